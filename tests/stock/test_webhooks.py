"""A webhook storm: every event Stripe made about a payment, each delivered three times, shuffled
and all at once, interleaved with the pay step's own answer (held between Stripe's answer and its
write to the ledger, so the storm comes first), the result page and a round of the keeper. A paid
intent's copies are sold once and its order paid once; a canceled intent's copies come back once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart, Response
from sqlalchemy.exc import DBAPIError

from bookshop.orders import Ledger, Order
from bookshop.payments import Intent, Payments
from bookshop.stock import Stock, StockLevel, keeper
from tests.checkout.steps import approve_3d_secure, result_query
from tests.fixtures.app import HTMX, Client
from tests.fixtures.paying import THREE_D_SECURE, VISA, press_pay
from tests.fixtures.sandbox import SandboxServer

BOOK = "code"
COPIES = 2
DUPLICATES = 3
RETRIES = 5
WAIT_S = 20.0
# The events Stripe sends about a payment paid at once, or after 3D Secure, or given up.
PAID_AT_ONCE = {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}
ASKED = {"payment_intent.created", "payment_intent.requires_action"}
PAID_AFTER_3DS = ASKED | {"charge.succeeded", "payment_intent.succeeded"}
CANCELED = ASKED | {"payment_intent.canceled"}


class HeldPayStep:
    """The pay step stopped between Stripe's answer and the shop's write of it (the ledger, the
    intent attached to the copies): the test storms the shop meanwhile, then lets it go on."""

    def __init__(self, gateway: Payments, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answered: asyncio.Future[Intent] = asyncio.get_running_loop().create_future()
        self.release = asyncio.Event()
        paying = gateway.pay

        async def held(*args: Any, **kwargs: Any) -> Intent:
            intent = await paying(*args, **kwargs)
            self.answered.set_result(intent)
            await self.release.wait()
            return intent

        monkeypatch.setattr(gateway, "pay", held)

    async def stripe_answer(self) -> Intent:
        return await asyncio.wait_for(asyncio.shield(self.answered), WAIT_S)


def sign(payload: bytes, secret: str) -> dict[str, str]:
    """Headers as Stripe signs a delivery: `t=<unix>,v1=<HMAC-SHA256 of "t." + body>`."""
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}", "Content-Type": "application/json"}


def events_of(sandbox: SandboxServer, intent_id: str, types: set[str]) -> list[dict[str, Any]]:
    """The sandbox's events about an intent (or its charges), once every type asked for is
    there; newest first, as Stripe lists them."""
    found = [
        event
        for event in sandbox.events()
        if intent_id
        in (event["data"]["object"]["id"], event["data"]["object"].get("payment_intent"))
    ]
    assert {event["type"] for event in found} == types, [event["type"] for event in found]
    return found


def storm(shop: Quart, events: list[dict[str, Any]], seed: int) -> list[Awaitable[Any]]:
    """Each event delivered DUPLICATES times, in a shuffled order, each by a client of its own."""
    deliveries = [json.dumps(event).encode() for event in events] * DUPLICATES
    random.Random(seed).shuffle(deliveries)
    return [delivered(shop, body) for body in deliveries]


async def delivered(shop: Quart, body: bytes) -> list[Response]:
    """One delivery, and its retries: like Stripe, it is sent again while the shop answers
    anything but a 2xx. Every answer, the last one a 200."""
    secret = shop.extensions["settings"].stripe_webhook_secret
    answers: list[Response] = []
    while len(answers) < RETRIES:
        answers.append(
            await shop.test_client().post("/webhooks/stripe", data=body, headers=sign(body, secret))
        )
        if answers[-1].status_code == 200:
            return answers
    raise AssertionError(f"{RETRIES} deliveries of {body[:60]!r} were refused")


def result_pages(shopper: Client, intent: Intent) -> list[Awaitable[Response]]:
    """The result page as the browser asks for it: the fragment it polls, and a reload."""
    url = f"/payment/status?{result_query(intent.id, intent.client_secret)}"
    return [shopper.get(url, headers=HTMX), shopper.get(url)]


def keeper_round(shop: Quart) -> list[Awaitable[Any]]:
    """A round of the keeper that takes every reservation for expired."""

    async def expire() -> str | None:
        later = datetime.now(UTC) + timedelta(days=1)
        try:
            await keeper.expire(shop.extensions["ledger"], shop.extensions["payments"], later)
        except DBAPIError as error:
            return f"the keeper's round failed: {error.orig}"  # `keeper.run` logs it and goes on
        return None

    return [expire()]


async def all_at_once(*groups: Iterable[Awaitable[Any]]) -> list[str]:
    """Run every delivery, page and keeper round of the storm at the same time (each delivery
    ends with a 200). What failed: a delivery Stripe had to send again, a result page that was
    not a 200, a keeper round that the next one redoes."""
    failed = []
    for result in await asyncio.gather(*(step for group in groups for step in group)):
        if isinstance(result, list):
            failed += [f"a delivery answered {answer.status_code}" for answer in result[:-1]]
        elif isinstance(result, Response):
            if result.status_code != 200:
                failed.append(f"a result page answered {result.status_code}")
        elif result is not None:
            failed.append(result)
    return failed


async def order_of(shop: Quart, intent_id: str) -> Order:
    ledger: Ledger = shop.extensions["ledger"]
    order = await ledger.get(intent_id)
    assert order is not None
    return order


async def pay_in_a_storm(
    shop: Quart,
    shopper: Client,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    card: str,
    types: set[str],
) -> tuple[Intent, Response, tuple[str, list[StockLevel]]]:
    """Press Pay with `card`; between Stripe's answer and the pay step's write, storm the shop
    with the intent's events and the result page. The intent, the pay step's answer, and the
    order's status and the book's stock as the storm left them, before the pay step's write."""
    held = HeldPayStep(shop.extensions["payments"], monkeypatch)
    paying = asyncio.create_task(press_pay(shopper, sandbox, f"/checkout/{BOOK}", card))
    try:
        intent = await held.stripe_answer()
        events = events_of(sandbox, intent.id, types)
        failed = await all_at_once(storm(shop, events, seed=1), result_pages(shopper, intent))
        assert failed == []
        stock: Stock = shop.extensions["stock"]
        before_write = (await order_of(shop, intent.id)).status, await stock.levels(BOOK)
    finally:
        held.release.set()
        answer = await asyncio.wait_for(paying, WAIT_S)
    return intent, answer, before_write


@pytest.mark.parametrize("card", [VISA, THREE_D_SECURE], ids=["paid-at-once", "after-3ds"])
async def test_a_storm_of_a_paid_intents_events_sells_its_copies_once(
    shop: Quart,
    shopper: Client,
    sandbox: SandboxServer,
    books: Stock,
    monkeypatch: pytest.MonkeyPatch,
    card: str,
) -> None:
    await books.set(BOOK, COPIES, "test")
    first = PAID_AT_ONCE if card == VISA else ASKED
    intent, answer, before_write = await pay_in_a_storm(
        shop, shopper, sandbox, monkeypatch, card, first
    )
    body = await answer.get_data(as_text=True)
    if card == VISA:
        # The storm sold the copies before the pay step wrote its answer; that sold nothing more.
        assert before_write == ("paid", [StockLevel(BOOK, COPIES - 1, 0, 1)])
        assert answer.status_code == 200 and 'data-outcome="succeeded"' in body, body
        types = PAID_AT_ONCE
    else:
        assert before_write == ("open", [StockLevel(BOOK, COPIES, 1, 0)])
        assert answer.status_code == 200 and "data-next-action" in body, body
        assert await books.levels(BOOK) == [StockLevel(BOOK, COPIES, 1, 0)]
        approve_3d_secure(sandbox, intent.id, intent.client_secret)
        types = PAID_AFTER_3DS

    # Every event again (replays now, and for 3D Secure the payment itself), the result page,
    # and the keeper, all at once.
    events = events_of(sandbox, intent.id, types)
    failed = await all_at_once(
        storm(shop, events, seed=2), result_pages(shopper, intent), keeper_round(shop)
    )
    assert failed == []

    assert await books.levels(BOOK) == [StockLevel(BOOK, COPIES - 1, 0, 1)]
    moves = [(move.kind, move.quantity, move.reference) for move in await books.moves(BOOK)]
    assert [kind for kind, _, _ in moves] == ["set", "reserved", "sold"]
    assert moves[-1] == ("sold", -1, intent.id)
    order = await order_of(shop, intent.id)
    assert (order.status, order.refund_reason, order.amount_refunded) == ("paid", None, 0)
    charges = sandbox.client().v1.charges.list(params={"payment_intent": intent.id}).data
    assert [(charge.status, charge.amount_refunded) for charge in charges] == [("succeeded", 0)]
    refunds = sandbox.client().v1.refunds.list(params={"payment_intent": intent.id}).data
    assert refunds == []
    ledger: Ledger = shop.extensions["ledger"]
    assert all([await ledger.event_seen(event["id"]) for event in events])


async def test_a_storm_of_a_canceled_intents_events_gives_its_copies_back_once(
    shop: Quart,
    shopper: Client,
    sandbox: SandboxServer,
    books: Stock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await books.set(BOOK, COPIES, "test")
    intent, answer, before_write = await pay_in_a_storm(
        shop, shopper, sandbox, monkeypatch, THREE_D_SECURE, ASKED
    )
    assert before_write == ("open", [StockLevel(BOOK, COPIES, 1, 0)])
    assert answer.status_code == 200 and "data-next-action" in await answer.get_data(True)
    assert await books.levels(BOOK) == [StockLevel(BOOK, COPIES, 1, 0)]

    sandbox.client().v1.payment_intents.cancel(intent.id)
    events = events_of(sandbox, intent.id, CANCELED)
    failed = await all_at_once(
        storm(shop, events, seed=3), result_pages(shopper, intent), keeper_round(shop)
    )

    assert await books.levels(BOOK) == [StockLevel(BOOK, COPIES, 0, 0)]
    moves = [(move.kind, move.quantity) for move in await books.moves(BOOK)]
    assert moves == [("set", COPIES), ("reserved", 1), ("released", 1)]
    assert (await order_of(shop, intent.id)).status == "canceled"
    assert sandbox.client().v1.charges.list(params={"payment_intent": intent.id}).data == []
    assert await books.expired(datetime.now(UTC) + timedelta(days=1)) == []
    # Every path takes the order's row before the stock's: nothing deadlocked on the way.
    assert not failed, failed
