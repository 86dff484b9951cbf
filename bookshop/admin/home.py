"""The back office's home page."""

from __future__ import annotations

from quart import Response

from bookshop.admin.blueprint import blueprint
from bookshop.admin.schema import STAFF
from bookshop.pages import render
from bookshop.security import policy


@blueprint.get("")
@policy(private=True, role=STAFF)
async def home() -> Response:
    """Today at a glance."""
    return await render("admin/home.html", csrf_protected=True)
