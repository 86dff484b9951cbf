"""Signing in to the back office and out of it."""

from __future__ import annotations

from typing import cast

from quart import Response, redirect, request, url_for

from bookshop.admin import sessions
from bookshop.admin.accounts import LOCK_AFTER, LOCKED_FOR
from bookshop.admin.blueprint import blueprint
from bookshop.admin.schema import STAFF
from bookshop.pages import render
from bookshop.security import LOGIN, policy

# The same words for a wrong password, an unknown account, a locked and a disabled one: they
# tell a guesser nothing.
REFUSED = (
    "That email and password don't open the back office. After "
    f"{LOCK_AFTER} wrong tries in a row an account waits {LOCKED_FOR.seconds // 60} minutes."
)


@blueprint.route("/login", methods=["GET", "POST"])
@policy(private=True, rate_limit=LOGIN)
async def login() -> Response:
    """The sign-in form; on success, on to the page that asked for it."""
    wanted = _back_office_path(request.args.get("next"))
    if request.method == "GET":
        if await sessions.signed_in() is not None:
            return cast(Response, redirect(wanted, 303))
        return await _form(wanted)
    form = await request.form
    email = form.get("email", "")
    if not await sessions.start(email, form.get("password", "")):
        return await _form(wanted, email=email, error=REFUSED, status=401)
    return cast(Response, redirect(wanted, 303))


@blueprint.post("/logout")
@policy(private=True, role=STAFF)
async def logout() -> Response:
    """Sign out, back to the sign-in form."""
    await sessions.end()
    return cast(Response, redirect(url_for("admin.login", out="1"), 303))


async def _form(
    wanted: str, email: str = "", error: str | None = None, status: int = 200
) -> Response:
    return await render(
        "admin/login.html",
        status=status,
        next=wanted,
        email=email[:254],
        error=error,
        signed_out=request.args.get("out") == "1",
        csrf_protected=True,
    )


def _back_office_path(raw: str | None) -> str:
    # Only a path in the back office: never another site ("//evil.example", "/\\evil").
    home = url_for("admin.home")
    if not raw or not raw.startswith(home) or "\\" in raw or raw.startswith("//"):
        return home
    return raw
