"""Over time: a reservation that outlives its time has its payment canceled at Stripe, then its
copies released; an approval racing that ends paid with the copy; a payment made for copies that
were gone is refunded once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from quart import Quart

from bookshop.orders import Ledger
from bookshop.payments import Payments
from bookshop.stock import Stock, StockLevel, keeper
from tests.fixtures.app import Client, deliver_to_singapore
from tests.fixtures.paying import THREE_D_SECURE, VISA, press_pay, session_intent
from tests.fixtures.sandbox import SandboxServer

LATER = timedelta(minutes=16)  # past the 15 minutes a reservation lasts


async def level(books: Stock, book_id: str) -> StockLevel:
    (found,) = await books.levels(book_id)
    return found


async def waiting_for_3d_secure(shopper: Client, sandbox: SandboxServer) -> tuple[str, str]:
    """Press Pay on one copy of Code with a card that needs 3D Secure: the intent and its secret."""
    response = await press_pay(shopper, sandbox, "/checkout/code", THREE_D_SECURE)
    secret = re.search(r'data-client-secret="([^"]+)"', await response.get_data(as_text=True))
    intent_id = await session_intent(shopper, "code")
    assert secret and intent_id
    return intent_id, secret[1]


async def test_an_expired_reservation_cancels_its_payment_then_gives_the_copies_back(
    shop: Quart, shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 1, "test")
    intent_id, secret = await waiting_for_3d_secure(shopper, sandbox)
    orders: Ledger = shop.extensions["ledger"]
    gateway: Payments = shop.extensions["payments"]

    assert await keeper.expire(orders, gateway) == 0  # not yet: 15 minutes
    assert await keeper.expire(orders, gateway, datetime.now(UTC) + LATER) == 1

    assert sandbox.client().v1.payment_intents.retrieve(intent_id).status == "canceled"
    assert await level(books, "code") == StockLevel("code", 1, 0, 0)
    order = await orders.get(intent_id)
    assert order is not None and order.status == "canceled"
    # A late approval can no longer charge: Stripe refuses it on a canceled intent.
    late = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent_id}",
        data={"client_secret": secret, "result": "approve"},
        timeout=10,
    )
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).status == "canceled", late.text
    assert await keeper.expire(orders, gateway, datetime.now(UTC) + LATER) == 0


async def test_an_approval_that_beats_the_expiry_ends_paid_with_its_copy(
    shop: Quart, shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 1, "test")
    intent_id, secret = await waiting_for_3d_secure(shopper, sandbox)
    approved = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent_id}",
        data={"client_secret": secret, "result": "approve"},
        timeout=10,
    )
    assert approved.status_code == 200

    handled = await keeper.expire(
        shop.extensions["ledger"], shop.extensions["payments"], datetime.now(UTC) + LATER
    )

    assert handled == 1
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).status == "succeeded"
    assert await level(books, "code") == StockLevel("code", 0, 0, 1)
    order = await shop.extensions["ledger"].get(intent_id)
    assert order is not None and (order.status, order.refund_reason) == ("paid", None)


async def test_a_payment_for_copies_sold_meanwhile_is_refunded_once_and_says_so(
    shop: Quart, shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 1, "test")
    intent_id, secret = await waiting_for_3d_secure(shopper, sandbox)
    # Its hold lapsed without the shop knowing the intent (its answer lost), and another
    # shopper bought the last copy; then the bank's approval comes through after all.
    await books.release("lost", intent_id=intent_id)
    other = await deliver_to_singapore(shop.test_client())
    assert (await press_pay(other, sandbox, "/checkout/code", VISA)).status_code == 200
    httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent_id}",
        data={"client_secret": secret, "result": "approve"},
        timeout=10,
    )

    result = await shopper.get(
        f"/payment/status?payment_intent={intent_id}&payment_intent_client_secret={secret}"
    )
    body = await result.get_data(as_text=True)

    assert 'data-outcome="refunded"' in body and "Sorry, your books sold out" in body
    refunds = sandbox.client().v1.refunds.list(params={"payment_intent": intent_id}).data
    assert len(refunds) == 1
    order = await shop.extensions["ledger"].get(intent_id)
    assert order is not None
    assert (order.status, order.refund_reason) == ("refunded", "out of stock")
    assert await level(books, "code") == StockLevel("code", 0, 0, 1)  # the other shopper's
    # Again, by the page or the keeper: no second refund.
    await shopper.get(
        f"/payment/status?payment_intent={intent_id}&payment_intent_client_secret={secret}"
    )
    assert (
        await keeper.refund_out_of_stock(shop.extensions["ledger"], shop.extensions["payments"])
        == []
    )
    assert len(sandbox.client().v1.refunds.list(params={"payment_intent": intent_id}).data) == 1


async def test_an_out_of_stock_payment_staff_refunded_first_is_recorded_not_retried(
    shop: Quart, shopper: Client, sandbox: SandboxServer, books: Stock
) -> None:
    await books.set("code", 1, "test")
    intent_id, secret = await waiting_for_3d_secure(shopper, sandbox)
    await books.release("lost", intent_id=intent_id)
    other = await deliver_to_singapore(shop.test_client())
    assert (await press_pay(other, sandbox, "/checkout/code", VISA)).status_code == 200
    httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent_id}",
        data={"client_secret": secret, "result": "approve"},
        timeout=10,
    )
    orders, gateway = shop.extensions["ledger"], shop.extensions["payments"]
    await orders.apply_state(await gateway.intent(intent_id))  # paid, for copies now gone
    # Staff saw it first and refunded it in full from the back office (their own key).
    await gateway.refund(intent_id, "damaged", key=f"bookshop-staff-refund-{intent_id}")

    refunded = await keeper.refund_out_of_stock(orders, gateway)

    assert [intent.id for intent in refunded] == [intent_id]
    order = await orders.get(intent_id)
    assert order is not None and order.status == "refunded"
    assert await orders.to_refund() == []  # so the next rounds leave it alone
    assert len(sandbox.client().v1.refunds.list(params={"payment_intent": intent_id}).data) == 1
