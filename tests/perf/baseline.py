"""The yardstick for the shop page: a bare Quart app rendering the same templates with the same
data, served by the same Hypercorn settings, without the shop's layers (error pages, request ids,
sessions, payments). `python -m tests.perf.baseline` serves it; the benchmark starts it."""

from __future__ import annotations

import logging
import os
import secrets
import sys

from hypercorn.run import run
from quart import Quart, render_template, request

from bookshop.catalog import default_catalog
from bookshop.config import load_settings
from bookshop.money import format_money
from bookshop.server import hypercorn_config


async def index() -> str:
    """The shop page, or just the grid for htmx: what the template needs, nothing more."""
    query = request.args.get("q", "")
    books = default_catalog().search(query)
    partial = request.headers.get("HX-Request") == "true"
    template = "shop/_search_results.html" if partial else "shop/index.html"
    return await render_template(template, partial=partial, query=query.strip(), books=books)


async def healthz() -> dict[str, str]:
    """Answers once the worker is up."""
    return {"status": "ok"}


async def cover(book_id: str) -> tuple[str, int]:
    """Only here so the template's url_for() finds the endpoint."""
    return "", 404


async def page(book_id: str) -> tuple[str, int]:
    """Only here so the template's url_for() finds the endpoint."""
    return "", 404


def create_app() -> Quart:
    """The bare app, with the template globals and filters the shop's templates use."""
    settings = load_settings(os.environ)
    app = Quart(__name__, template_folder="../../templates", static_folder="../../static")
    app.jinja_env.filters["money"] = lambda amount: format_money(
        amount, settings.currency, settings.locale
    )
    app.jinja_env.globals["settings"] = settings
    # Same length as the shop's token; the shop's session work to keep one is a layer it pays for.
    token = secrets.token_urlsafe(32)
    app.jinja_env.globals["csrf_token"] = lambda: token
    # Routes on the app itself, named like the shop's blueprint endpoints that url_for() asks for:
    # bare Quart, without the thread hop that blueprints' inherited context processor costs.
    app.add_url_rule("/", "shop.index", index)
    app.add_url_rule("/healthz", "shop.healthz", healthz)
    app.add_url_rule("/covers/<book_id>.svg", "shop.cover", cover)
    app.add_url_rule("/checkout/<book_id>", "checkout.page", page)
    return app


def main() -> int:
    """Serve the baseline on SHOP_HOST:SHOP_PORT with SHOP_WORKERS, like `python -m bookshop`."""
    logging.basicConfig(level=logging.INFO)
    return run(hypercorn_config(load_settings(os.environ), "tests.perf.baseline:create_app()"))


if __name__ == "__main__":
    sys.exit(main())
