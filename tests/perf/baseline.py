"""The yardstick for the shop: a bare Quart app rendering the same templates with the same data,
served by the same Hypercorn settings, without the shop's layers (error pages, request ids,
sessions, CSRF, the orders ledger). Its books come from the shop's own database, through the
shop's catalog (a page of 24, as the shop reads them). `python -m tests.perf.baseline` serves it;
the benchmark starts it.

Its checkout page is the least a new shopper's checkout of a cart can cost on this stack: the
shop's own Stripe gateway creates the PaymentIntent for the same three books the benchmark's cart
holds (stripe-python in its thread pool), then the checkout template renders. No session, no
ledger, no error pages."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable

from hypercorn.run import run
from quart import Quart, render_template, request

from bookshop.address import Address
from bookshop.basket import Basket, line
from bookshop.catalog import Catalog, catalog
from bookshop.catalog.store import TITLE
from bookshop.config import load_settings
from bookshop.database import Database
from bookshop.money import format_money
from bookshop.pages import absolute_url
from bookshop.payments import Payments
from bookshop.server import hypercorn_config
from bookshop.shipping import default_rates

# The benchmark's cart (tests/perf/bench.py): three books, one copy each, going to Singapore.
CART = ("code", "hackers", "mythical-man-month")
ADDRESS = Address("Ada Reader", "1 Straits View", "", "", "", "018937", "SG", "")


async def index() -> str:
    """The shop page, or just the grid for htmx: what the template needs, nothing more."""
    query = request.args.get("q", "").strip()
    page = await catalog().page(1, "relevance" if query else TITLE, query)
    partial = request.headers.get("HX-Request") == "true"
    template = "shop/_search_results.html" if partial else "shop/index.html"
    return await render_template(
        template,
        partial=partial,
        query=query,
        sort="relevance" if query else TITLE,
        sorts={},
        page=page,
        next_page={"page": 2} if page.has_next else None,
        previous_page=None,
        canonical_page={},
    )


async def healthz() -> dict[str, str]:
    """Answers once the worker is up."""
    return {"status": "ok"}


def checkout_page(payments: Payments) -> Callable[[], Awaitable[str]]:
    """A new shopper's checkout of the cart, with the shop's own Stripe gateway and nothing more."""

    async def page() -> str:
        known = await catalog().get_many(CART)
        books = Basket(tuple(line(known[book_id], 1) for book_id in CART))
        zone = default_rates().zone(ADDRESS.country)
        assert zone is not None
        basket = books.delivered(ADDRESS, zone.cost(books.count, books.subtotal))
        intent = await payments.open_checkout(basket, secrets.token_urlsafe(12), None)
        return await render_template(
            "checkout/page.html",
            partial=False,
            basket=basket,
            book=None,
            quantity=1,
            quantities=range(1, 11),
            intent=intent,
            notice=None,
            payments=payments,
            pay_url="/checkout/pay",
            status_url=None,
            zone=zone,
            here="/checkout",
        )

    return page


async def not_served() -> tuple[str, int]:
    """Only here so the templates' url_for() finds the endpoints."""
    return "", 404


def create_app() -> Quart:
    """The bare app, with the template globals and filters the shop's templates use."""
    settings = load_settings(os.environ)
    app = Quart(__name__, template_folder="../../templates", static_folder="../../static")
    app.jinja_env.filters["money"] = lambda amount: format_money(
        amount, settings.currency, settings.locale
    )
    app.jinja_env.globals["settings"] = settings
    app.extensions["settings"] = settings  # absolute_url builds on its public URL
    database = Database(settings.database_url)
    app.extensions["catalog"] = Catalog(database)

    @app.before_serving
    async def open_database() -> None:
        # The shop migrates and fills the database; the benchmark starts the shop first.
        await database.open()

    @app.after_serving
    async def close_database() -> None:
        await database.close()

    # Same length as the shop's token; the shop's session work to keep one is a layer it pays for.
    token = secrets.token_urlsafe(32)
    app.jinja_env.globals["csrf_token"] = lambda: token
    app.jinja_env.globals["cart_count"] = lambda: len(CART)
    app.jinja_env.globals["country_name"] = lambda code: code
    app.jinja_env.globals["absolute_url"] = absolute_url
    # Routes on the app itself, named like the shop's blueprint endpoints that url_for() asks for:
    # bare Quart, without the thread hop that blueprints' inherited context processor costs.
    app.add_url_rule("/", "shop.index", index)
    app.add_url_rule("/healthz", "shop.healthz", healthz)
    app.add_url_rule("/covers/<book_id>.svg", "shop.cover", not_served)
    app.add_url_rule("/books/<book_id>", "shop.book", not_served)
    app.add_url_rule("/checkout", "checkout.cart", checkout_page(Payments(settings)))
    app.add_url_rule("/checkout/pay", "checkout.prepare_cart_payment", not_served)
    app.add_url_rule("/checkout/address", "checkout.address", not_served)
    app.add_url_rule("/checkout/<book_id>", "checkout.page", not_served)
    app.add_url_rule("/cart", "cart.page", not_served)
    app.add_url_rule("/cart/add", "cart.add", not_served)
    app.add_url_rule("/checkout/<book_id>/quantity", "checkout.change_quantity", not_served)
    app.add_url_rule("/checkout/<book_id>/pay", "checkout.prepare_payment", not_served)
    app.add_url_rule("/success", "checkout.success", not_served)
    app.add_url_rule("/payment/status", "checkout.payment_status", not_served)
    return app


def main() -> int:
    """Serve the baseline on SHOP_HOST:SHOP_PORT with SHOP_WORKERS, like `python -m bookshop`."""
    logging.basicConfig(level=logging.INFO)
    return run(hypercorn_config(load_settings(os.environ), "tests.perf.baseline:create_app()"))


if __name__ == "__main__":
    sys.exit(main())
