"""The back office: staff accounts, sign-in, and the shopkeeper's pages (orders, refunds,
shipping, stock, the catalog), each action written to the audit log."""

from __future__ import annotations

from quart import Quart, Response, g, request

# Each module adds its routes to the blueprint as it is imported.
from bookshop.admin import home, sign_in  # noqa: F401
from bookshop.admin.blueprint import blueprint

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

    @app.after_request
    async def back_office_headers(response: Response) -> Response:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Robots-Tag"] = "noindex, nofollow"
            response.headers["Referrer-Policy"] = "no-referrer"
        return response
