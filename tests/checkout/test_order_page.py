"""The shopper's order page: opened by the signed link alone, a 404 for a tampered or foreign
one, never indexed or stored, and where the order stands in the shopper's words (paid, shipped
with its tracking number, refunded in part or in all); on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from quart import Quart
from sqlalchemy import update

from bookshop.orders import Ledger, Order
from bookshop.orders.links import order_token
from bookshop.orders.schema import orders
from tests.checkout.steps import books_in
from tests.fixtures.app import BOOKS, Client
from tests.orders.intents import HOME, PRICE, intent, paid, refund_event

NOT_FOUND = "We couldn't find that order."


def ledger_of(app: Quart) -> Ledger:
    """The shop's orders ledger."""
    found: Ledger = app.extensions["ledger"]
    return found


async def paid_order(app: Quart, intent_id: str = "pi_page", **changes: object) -> Order:
    """An order of one copy of "code" to Singapore, paid (as the result page records it)."""
    ledger = ledger_of(app)
    await ledger.record_payment(intent(intent_id, address=HOME, email="ada@example.com"))
    await ledger.mark_paid(paid(intent_id, address=HOME, email="ada@example.com", **changes))
    order = await ledger.get(intent_id)
    assert order is not None and order.status == "paid"
    return order


async def change(app: Quart, intent_id: str, **values: object) -> None:
    """Set what staff's actions set (shipping, the shop's own refund reason)."""
    async with ledger_of(app).database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == intent_id).values(values)
        )


def page_of(app: Quart, order: Order, secret_key: str | None = None) -> str:
    """The order page's path, signed with the shop's key (or another)."""
    key = secret_key if secret_key is not None else app.extensions["settings"].secret_key
    return f"/orders/{order_token(key, order.number)}"


def standing(body: str) -> str:
    """What the page says of where the order stands: its status line and what follows, as text."""
    start = body.index("Where it stands</h2>") + len("Where it stands</h2>")
    section = body[start : body.index("</section>", start)]
    text = html.unescape(re.sub(r"<[^>]+>", " ", section))
    return re.sub(r"[ \t\n]+", " ", text).strip()  # not str.split(): amounts hold a no-break space


async def test_the_signed_link_opens_the_order_with_its_lines_totals_and_address(
    shop: Quart, shopper: Client
) -> None:
    order = await paid_order(shop)

    response = await shopper.get(page_of(shop, order))

    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"<title>Order {order.number} \u2013 Bookshop</title>" in body
    assert f'Order <span class="order-number">{order.number}</span></h1>' in body
    assert order.paid_at is not None and f"Placed on {order.paid_at:%-d %B %Y}" in body
    assert books_in(body) == ["code"] and BOOKS["code"].title in body
    assert 'order-subtotal">32.00\xa0SGD<' in body and 'order-total">32.00\xa0SGD<' in body
    assert "Ada Reader<br>1 Straits View<br>#12-01<br>Singapore 018937<br>Singapore" in body
    assert standing(body).startswith("Paid: we are getting your books ready to send")
    assert "delivery takes 1-2 working days" in body


async def test_the_order_page_is_never_indexed_or_stored(shop: Quart, shopper: Client) -> None:
    order = await paid_order(shop)

    response = await shopper.get(page_of(shop, order))

    assert response.status_code == 200
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Cache-Control"] == "no-store"
    # The token is in the URL: no link on the page may carry it to another site.
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex">' in await response.get_data(as_text=True)


async def test_a_tampered_foreign_or_unknown_token_is_the_shops_404(
    shop: Quart, shopper: Client
) -> None:
    order = await paid_order(shop)
    good = page_of(shop, order)
    signature = good.rsplit(".", 1)[1]
    other = page_of(shop, replace(order, number="BK-2345AB"))  # signed, but no order has it
    tampered = [
        # The signature changed (mid-way: its last character carries unused bits).
        good[:-12] + ("A" if good[-12] != "A" else "B") + good[-11:],
        page_of(shop, replace(order, number="BK-2345AB")).rsplit(".", 1)[0] + "." + signature,
        "/orders/" + order.number,  # the number alone
        "/orders/" + "x" * 500,
    ]
    for path in [*tampered, page_of(shop, order, "another-shops-key"), other]:
        response = await shopper.get(path)

        body = await response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert NOT_FOUND in html.unescape(body) and "<html" in body, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert order.number not in body, path


async def test_an_unpaid_order_has_no_page(shop: Quart, shopper: Client) -> None:
    await ledger_of(shop).record_payment(intent("pi_open", address=HOME))
    order = await ledger_of(shop).get("pi_open")
    assert order is not None and order.status == "open"

    response = await shopper.get(page_of(shop, order))

    assert response.status_code == 404


async def test_a_shipped_order_shows_the_carrier_and_tracking_number_escaped(
    shop: Quart, shopper: Client
) -> None:
    order = await paid_order(shop)
    await change(
        shop,
        order.intent_id,
        shipped_at=datetime(2027, 3, 12, 9, 30, tzinfo=UTC),
        carrier="<b>SingPost</b>",
        tracking_number="RR123456789SG",
    )

    body = await (await shopper.get(page_of(shop, order))).get_data(as_text=True)

    assert standing(body) == (
        "Shipped on 12 March 2027 with <b>SingPost</b> Tracking number: RR123456789SG"
    )
    assert "<b>SingPost" not in body and "&lt;b&gt;SingPost&lt;/b&gt;" in body
    assert '<strong class="tracking-number">RR123456789SG</strong>' in body


async def test_a_shoppers_name_shows_as_text_never_as_markup(shop: Quart, shopper: Client) -> None:
    evil = replace(HOME, name='<script>alert("x")</script>')
    ledger = ledger_of(shop)
    await ledger.record_payment(intent("pi_evil", address=evil, email="ada@example.com"))
    await ledger.mark_paid(paid("pi_evil", address=evil, email="ada@example.com"))
    order = await ledger.get("pi_evil")
    assert order is not None

    body = await (await shopper.get(page_of(shop, order))).get_data(as_text=True)

    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


@pytest.mark.parametrize(
    ("refunded", "said"),
    [
        (PRICE // 2, "Partly refunded: 16.00\xa0SGD went back to your card."),
        (PRICE, "Refunded 32.00\xa0SGD went back to your card."),
    ],
    ids=["partly", "all"],
)
async def test_a_refund_says_how_much_went_back(
    shop: Quart, shopper: Client, refunded: int, said: str
) -> None:
    order = await paid_order(shop)
    await ledger_of(shop).apply_event(refund_event("evt_refund", order.intent_id, refunded))

    body = await (await shopper.get(page_of(shop, order))).get_data(as_text=True)

    assert said in standing(body)
    assert f'order-refunded">{refunded // 100}.00\xa0SGD<' in body


async def test_an_order_whose_books_sold_out_says_it_is_refunded_and_not_sent(
    shop: Quart, shopper: Client
) -> None:
    order = await paid_order(shop)
    await change(shop, order.intent_id, refund_reason="out of stock")
    page = page_of(shop, order)

    waiting = standing(await (await shopper.get(page)).get_data(as_text=True))
    await ledger_of(shop).apply_event(refund_event("evt_refund", order.intent_id, PRICE))
    done = standing(await (await shopper.get(page)).get_data(as_text=True))

    assert waiting.startswith("Being refunded Sorry: the last copies were sold")
    assert "refunding all of it, 32.00\xa0SGD, to your card, and nothing will be sent" in waiting
    assert done.startswith("Refunded Sorry: the last copies were sold")
    assert "nothing will be sent. 32.00\xa0SGD went back to your card." in done
