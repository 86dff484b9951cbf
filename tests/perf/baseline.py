"""The yardstick for the shop: a bare Quart app rendering the same templates with the same data,
served by the same Hypercorn settings, without the shop's layers (error pages, request ids,
sessions, CSRF, the orders ledger). Its books come from the shop's own database, through the
shop's catalog (a page of 24, as the shop reads them). `python -m tests.perf.baseline` serves it;
the benchmark starts it.

Its checkout page is the least a new shopper's checkout of a cart can cost on this stack: the
same three books the benchmark's cart holds, delivered to Singapore, in the checkout template; like
the shop's, it asks nothing of Stripe. Its pay step makes the shop's two Stripe calls through the
shop's own gateway (stripe-python in its thread pool): it reads the ConfirmationToken, then
creates and confirms the PaymentIntent in one call, and renders the receipt. No session, CSRF,
ledger, checks of the page against the order, or error pages."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from hypercorn.run import run
from quart import Quart, current_app, render_template, request

from bookshop.address import Address
from bookshop.basket import MAX_QUANTITY, MIN_QUANTITY, Basket, line
from bookshop.catalog import Catalog, catalog
from bookshop.catalog.store import TITLE
from bookshop.config import load_settings
from bookshop.database import Database
from bookshop.money import format_money
from bookshop.orders import Order
from bookshop.orders.links import PATH, order_token
from bookshop.orders.numbers import new_number
from bookshop.orders.schema import OrderLine
from bookshop.pages import absolute_url
from bookshop.payments import Intent, Payments
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


async def cart_basket() -> Basket:
    """The benchmark's cart, priced from the catalog now and delivered to Singapore."""
    known = await catalog().get_many(CART)
    books = Basket(tuple(line(known[book_id], 1) for book_id in CART))
    zone = default_rates().zone(ADDRESS.country)
    assert zone is not None
    return books.delivered(ADDRESS, zone.cost(books.count, books.subtotal))


def checkout_page(payments: Payments) -> Callable[[], Awaitable[str]]:
    """A new shopper's checkout of the cart: the page the shop renders, no Stripe call."""

    async def page() -> str:
        basket = await cart_basket()
        assert basket.address is not None
        return await render_template(
            "checkout/page.html",
            partial=False,
            basket=basket,
            book=None,
            quantity=1,
            quantities=range(MIN_QUANTITY, MAX_QUANTITY + 1),
            intent=None,
            notice=None,
            payments=payments,
            pay_url="/checkout/pay",
            zone=default_rates().zone(basket.address.country),
            here="/checkout",
        )

    return page


def pay_step(payments: Payments) -> Callable[[], Awaitable[tuple[str, int]]]:
    """The cart's Pay with the shop's two Stripe calls (read the token, create and confirm the
    intent), answered with the result as the shop answers htmx: the receipt, or the decline."""

    async def pay() -> tuple[str, int]:
        form = await request.form
        basket = await cart_basket()
        token = await payments.confirmation_token(form.get("confirmation_token", ""))
        intent = await payments.pay(
            basket,
            secrets.token_urlsafe(12),
            token.id,
            form.get("email", ""),
            absolute_url("/success"),
            None,
        )
        partial = request.headers.get("HX-Request") == "true"
        order = placed(intent, basket)
        secret_key = current_app.extensions["settings"].secret_key
        body = await render_template(
            "checkout/_result.html" if partial else "checkout/result.html",
            partial=partial,
            payment=intent,
            outcome=intent.outcome,
            order=basket,
            back_url="/checkout",
            status_url=None,
            # What the confirmation shows of the order: the shop reads it from its ledger.
            placed=order,
            zone=default_rates().zone(ADDRESS.country),
            order_url=PATH + order_token(secret_key, order.number),
        )
        return body, 402 if intent.outcome == "declined" else 200

    return pay


def placed(intent: Intent, basket: Basket) -> Order:
    """The paid order as the shop's ledger would hold it, made here in memory (no ledger)."""
    now = datetime.now(UTC)
    return Order(
        intent_id=intent.id,
        number=new_number(),
        lines=tuple(
            OrderLine(each.book.id, each.book.title, each.unit_price, each.quantity)
            for each in basket.lines
        ),
        amount=intent.amount,
        currency=intent.currency,
        email=intent.email,
        status="paid",
        attempts=0,
        decline_code=None,
        charge_id=intent.charge_id,
        amount_refunded=0,
        created_at=now,
        updated_at=now,
        shipping=intent.shipping,
        address=intent.address,
    )


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
    app.jinja_env.filters["money_in"] = lambda amount, currency: format_money(
        amount, currency, settings.locale
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
    payments = Payments(settings)
    app.add_url_rule("/checkout", "checkout.cart", checkout_page(payments))
    app.add_url_rule("/checkout/pay", "checkout.pay_cart", pay_step(payments), methods=["POST"])
    app.add_url_rule("/checkout/address", "checkout.address", not_served)
    app.add_url_rule("/checkout/<book_id>", "checkout.page", not_served)
    app.add_url_rule("/cart", "cart.page", not_served)
    app.add_url_rule("/cart/add", "cart.add", not_served)
    app.add_url_rule("/checkout/<book_id>/quantity", "checkout.change_quantity", not_served)
    app.add_url_rule("/checkout/<book_id>/pay", "checkout.pay_book", not_served)
    app.add_url_rule("/success", "checkout.success", not_served)
    app.add_url_rule("/payment/status", "checkout.payment_status", not_served)
    return app


def main() -> int:
    """Serve the baseline on SHOP_HOST:SHOP_PORT with SHOP_WORKERS, like `python -m bookshop`."""
    logging.basicConfig(level=logging.INFO)
    return run(hypercorn_config(load_settings(os.environ), "tests.perf.baseline:create_app()"))


if __name__ == "__main__":
    sys.exit(main())
