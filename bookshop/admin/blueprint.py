"""The back office's blueprint, which each of its pages adds routes to, and what guards all of
them: a live staff session in the role the route declares (`@policy(role=...)`)."""

from __future__ import annotations

from typing import cast

from quart import Blueprint, Response, current_app, g, redirect, request, url_for
from werkzeug.exceptions import Forbidden, Unauthorized

from bookshop.admin.accounts import StaffMember
from bookshop.admin.audit import Actor
from bookshop.admin.schema import OWNER
from bookshop.admin.sessions import signed_in
from bookshop.htmx import wants_fragment
from bookshop.security import policy_of

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.before_request
async def require_staff() -> Response | None:
    """Let through only a live staff session in the route's role: a page asks for a sign-in,
    an htmx request gets 401, an owner's route refuses other staff with 403."""
    declared = policy_of(current_app.view_functions[request.endpoint or ""])
    if declared is None or declared.role is None:
        return None  # the sign-in page itself
    member = await signed_in()
    if member is None:
        if wants_fragment():
            raise Unauthorized("Your sign-in has ended. Reload the page to sign in again.")
        wanted = request.full_path.rstrip("?") if request.method == "GET" else None
        return cast(Response, redirect(url_for("admin.login", next=wanted), 303))
    if declared.role == OWNER and not member.owner:
        raise Forbidden("Only the shop's owner can do that.")
    g.staff = member
    return None


def current_staff() -> StaffMember:
    """The staff member this request is from (a guarded route only)."""
    return cast(StaffMember, g.staff)


def acting() -> Actor:
    """Who this request acts as, for the audit log: the staff member, from this address."""
    return Actor(current_staff().email, request.remote_addr)
