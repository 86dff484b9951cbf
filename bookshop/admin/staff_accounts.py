"""The owner's page of staff accounts: who may sign in, in which role, and a switch to disable or
enable each (accounts are added at the terminal, where their passwords are typed)."""

from __future__ import annotations

from typing import cast

from quart import Response, redirect, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop.admin.accounts import now
from bookshop.admin.blueprint import acting, blueprint, current_staff
from bookshop.admin.schema import OWNER
from bookshop.admin.sessions import accounts
from bookshop.pages import render
from bookshop.security import policy

# The form's values for the state it asks for.
DISABLE, ENABLE = "disable", "enable"
OWN_ACCOUNT = (
    "You can't disable the account you are signed in with: the shop would have no owner left "
    "to undo it. Another owner can, or `quart --app bookshop staff disable` at the terminal."
)


@blueprint.get("/staff")
@policy(private=True, role=OWNER)
async def staff_accounts() -> Response:
    """Every staff account, with a button to disable or enable it."""
    return await _page()


@blueprint.post("/staff/state")
@policy(private=True, role=OWNER)
async def set_staff_state() -> Response:
    """Disable an account (its sessions end at once) or enable it again; back to the list."""
    form = await request.form
    wanted = form.get("state", "")
    if wanted not in (DISABLE, ENABLE):
        raise BadRequest(f"The state must be {DISABLE!r} or {ENABLE!r}.")
    member = await accounts().find(form.get("email", ""))
    if member is None:
        raise NotFound("No staff account has that email. Reload the page to see the accounts.")
    disable = wanted == DISABLE
    if disable and member.id == current_staff().id:
        return await _page(error=OWN_ACCOUNT, status=422)
    # A repeated press (or a second tab) finds it done already, and logs nothing twice.
    if member.disabled != disable:
        await accounts().set_disabled(member.email, disable, acting())
    return cast(Response, redirect(url_for("admin.staff_accounts"), 303))


async def _page(error: str | None = None, status: int = 200) -> Response:
    return await render(
        "admin/staff.html",
        status=status,
        members=await accounts().all(),
        me=current_staff(),
        moment=now(),
        error=error,
        disable=DISABLE,
        enable=ENABLE,
        csrf_protected=True,
    )
