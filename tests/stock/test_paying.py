"""The pay step reserves a checkout's copies before it charges: short means nothing charged, a
decline gives them back at once, 3D Secure keeps them, and a payment sells them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from quart import Quart

from bookshop.stock import Stock, StockLevel
from tests.fixtures.app import BOOKS, Client
from tests.fixtures.live import alerted
from tests.fixtures.paying import (
    INSUFFICIENT_FUNDS,
    THREE_D_SECURE,
    VISA,
    fill_cart,
    press_pay,
    session_intent,
)
from tests.fixtures.sandbox import SandboxServer


async def level(books: Stock, book_id: str) -> StockLevel:
    (found,) = await books.levels(book_id)
    return found


async def test_a_line_short_of_copies_is_said_before_anything_is_charged(
    shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await fill_cart(shopper, ("code", 1), ("hackers", 2))
    # Meanwhile other shoppers bought all but one copy of Hackers.
    await books.set("code", 3, "test")
    await books.set("hackers", 1, "test")
    before = {intent.id for intent in sandbox.client().v1.payment_intents.list().auto_paging_iter()}

    refused = await press_pay(shopper, sandbox, "/checkout")
    body = await refused.get_data(as_text=True)

    assert refused.status_code == 409
    message = f"Only 1 copy is left of {BOOKS['hackers'].title}. Nothing was charged"
    assert message in body and (alerted(body) or "").startswith(message)
    assert refused.headers["HX-Retarget"] == "#checkout-summary"
    after = {intent.id for intent in sandbox.client().v1.payment_intents.list().auto_paging_iter()}
    assert after == before  # no intent made, nothing charged
    assert await level(books, "code") == StockLevel("code", 3, 0, 0)  # nothing held either


async def test_a_sold_out_book_is_said_to_be_sold_out(
    shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 0, "test")
    refused = await press_pay(shopper, sandbox, "/checkout/code")
    assert refused.status_code == 409
    assert f"{BOOKS['code'].title} is sold out." in await refused.get_data(as_text=True)


async def test_a_payment_sells_its_copies_and_a_decline_gives_them_back_at_once(
    shopper: Client, sandbox: SandboxServer, books: Stock, shop: Quart
) -> None:
    await books.set("code", 2, "test")
    declined = await press_pay(shopper, sandbox, "/checkout/code", INSUFFICIENT_FUNDS)
    assert declined.status_code == 402
    assert await level(books, "code") == StockLevel("code", 2, 0, 0)

    paid = await press_pay(shopper, sandbox, "/checkout/code", VISA)
    assert paid.status_code == 200
    assert await level(books, "code") == StockLevel("code", 1, 0, 1)
    intent_id = re.search(r"payment_intent=(pi_[A-Za-z0-9]+)", paid.headers["HX-Push-Url"])
    assert intent_id
    moves = [(move.kind, move.quantity, move.reference) for move in await books.moves("code")]
    assert moves[-1] == ("sold", -1, intent_id[1])
    assert [kind for kind, _, _ in moves] == ["set", "reserved", "released", "reserved", "sold"]
    # The result page, read again, sells nothing more.
    await shopper.get(paid.headers["HX-Push-Url"])
    assert await level(books, "code") == StockLevel("code", 1, 0, 1)


async def test_3d_secure_keeps_the_copies_for_the_intent_it_waits_on(
    shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 1, "test")
    waiting = await press_pay(shopper, sandbox, "/checkout/code", THREE_D_SECURE)
    assert waiting.status_code == 200 and "data-next-action" in await waiting.get_data(True)

    intent_id = await session_intent(shopper, "code")
    assert await level(books, "code") == StockLevel("code", 1, 1, 0)
    (hold,) = await books.expired(datetime.now(UTC) + timedelta(days=1))
    assert hold.intent_id == intent_id
    assert await books.left(["code"]) == {"code": 0}


async def test_a_stale_result_page_gives_back_only_its_own_payments_copies(
    shop: Quart, shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 1, "test")
    await press_pay(shopper, sandbox, "/checkout/code", THREE_D_SECURE)
    first = await session_intent(shopper, "code")
    assert first is not None
    await shop.extensions["payments"].cancel(first)  # given up, then paid for again
    await press_pay(shopper, sandbox, "/checkout/code", THREE_D_SECURE)
    second = await session_intent(shopper, "code")
    assert second not in (None, first)
    assert await level(books, "code") == StockLevel("code", 1, 1, 0)

    secret = sandbox.client().v1.payment_intents.retrieve(first).client_secret
    stale = await shopper.get(
        f"/payment/status?payment_intent={first}&payment_intent_client_secret={secret}"
    )

    assert 'data-outcome="canceled"' in await stale.get_data(as_text=True)
    assert await level(books, "code") == StockLevel("code", 1, 1, 0)  # the second Pay's, still
    (hold,) = await books.expired(datetime.now(UTC) + timedelta(days=1))
    assert hold.intent_id == second
