"""The back office: staff accounts, sign-in, and the shopkeeper's pages (orders, refunds,
shipping, stock, the catalog), each action written to the audit log."""

from __future__ import annotations

from quart import Quart, Response, g, request

# Each module adds its routes to the blueprint as it is imported.
from bookshop.admin import (  # noqa: F401
    audit_log,
    catalog,
    home,
    orders,
    refunds,
    shipping,
    sign_in,
    staff_accounts,
    stock,
)
from bookshop.admin.blueprint import blueprint
from bookshop.text import visible

__all__ = ["blueprint", "install"]

# The back office's pages in its header: endpoint, label, and whether only the owner sees it.
SECTIONS = (
    ("admin.home", "Today", False),
    ("admin.orders", "Orders", False),
    ("admin.stock", "Stock", False),
    ("admin.catalog", "Catalog", True),
    ("admin.audit", "Audit log", True),
    ("admin.staff_accounts", "Staff", True),
)


def install(app: Quart) -> None:
    """Register the back office; every answer under /admin is never stored, never indexed and
    never referred (a search by email sits in its URLs)."""
    app.register_blueprint(blueprint)
    prefix = blueprint.url_prefix or "/admin"
    app.jinja_env.globals["admin_sections"] = [
        section for section in SECTIONS if section[0] in app.view_functions
    ]
    app.jinja_env.globals["signed_in_staff"] = lambda: g.get("staff")
    # What shoppers typed, with invisible and direction-changing characters shown as escapes.
    app.jinja_env.filters["visible"] = visible

    @app.after_request
    async def back_office_headers(response: Response) -> Response:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Robots-Tag"] = "noindex, nofollow"
            response.headers["Referrer-Policy"] = "no-referrer"
        return response
