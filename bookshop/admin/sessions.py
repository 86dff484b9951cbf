"""Staff sessions in the browser: the staff cookie (quart-auth, on /admin only) that carries a
sign-in's token, and the account it opens."""

from __future__ import annotations

import warnings
from typing import cast

from quart import Quart, current_app, g, request
from quart_auth import Action, AuthUser, QuartAuth

from bookshop.admin.accounts import ABSOLUTE_TIMEOUT, Accounts, StaffMember
from bookshop.config import Settings

COOKIE = "bookshop_staff"
# quart-auth warns that browsers drop a SameSite=Strict cookie set on a redirect; they drop it
# only on a cross-site one, and a sign-in redirects within the back office.
warnings.filterwarnings("ignore", "Strict samesite cookies will be ignored on redirects")


def install(app: Quart, settings: Settings, accounts: Accounts) -> None:
    """Give the app its staff cookie: its own name, path /admin, HttpOnly, SameSite=Strict,
    Secure in production, and a signature that lapses with the longest session."""
    app.extensions["staff_accounts"] = accounts
    app.extensions["staff_auth"] = QuartAuth(
        app,
        cookie_name=COOKIE,
        cookie_path="/admin",
        cookie_http_only=True,
        cookie_samesite="Strict",
        cookie_secure=settings.env == "production",
        duration=int(ABSOLUTE_TIMEOUT.total_seconds()),
        salt="bookshop staff sign-in",
        singleton=False,
    )


def accounts() -> Accounts:
    """The app's staff accounts."""
    return cast(Accounts, current_app.extensions["staff_accounts"])


async def signed_in() -> StaffMember | None:
    """The staff member whose live session this request carries, if any (once per request)."""
    if "staff_member" not in g:
        token = _auth().load_user().auth_id
        g.staff_member = await accounts().signed_in(token) if token else None
    return cast(StaffMember | None, g.staff_member)


async def start(email: str, password: str) -> bool:
    """Sign in: a new session, in a new cookie (whatever session the browser had ends, so a
    planted cookie never becomes a signed-in one). False when the details open no account."""
    token = await accounts().sign_in(email, password, request.remote_addr)
    if token is None:
        return False
    await end()
    _auth().login_user(AuthUser(token, Action.WRITE))
    return True


async def end() -> None:
    """Sign out: the session ends in the database, and the cookie is deleted."""
    token = _auth().load_user().auth_id
    if token:
        await accounts().sign_out(token)
    _auth().logout_user()
    g.staff_member = None


def _auth() -> QuartAuth:
    return cast(QuartAuth, current_app.extensions["staff_auth"])
