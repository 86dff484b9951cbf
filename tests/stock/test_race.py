"""The issue's race: 50 shoppers, each buying the one book that has 3 copies left, press Pay at
the same moment, through real shop processes (`python -m bookshop`): two on one PostgreSQL
sharing one Stripe sandbox, or one on SQLite. Exactly 3 are charged and get the receipt; the 47
others are told it sold out, and Stripe never hears of them (no intent, so no refund either).

Each shopper is a client of its own (its own cookie jar) doing what the browser does: the address
step's form, the book's checkout page, a ConfirmationToken from the sandbox's test helper (what
Stripe.js makes from the card), and the pay step posted as htmx posts it.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bookshop.database import Database
from bookshop.orders import Ledger, Order
from bookshop.stock import Stock, StockLevel, StockMove
from tests.e2e.servers import RunningShop, running_shop
from tests.fixtures.app import BOOKS, SINGAPORE
from tests.fixtures.paying import EMAIL, VISA, shown_on

BOOK = "code"
COPIES = 3
SHOPPERS = 50
TIMEOUT_S = 60.0
WEBHOOKS_WAIT_S = 20.0
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
RECEIPT = 'data-outcome="succeeded"'
PUSHED_INTENT = re.compile(r"payment_intent=(pi_[A-Za-z0-9]+)")
# What a shopper too late reads: sold out, or (had they asked for more) how many are left.
TOO_LATE = re.compile(
    rf"(?:{re.escape(BOOKS[BOOK].title)} is sold out|Only \d+ cop(?:y is|ies are) left of "
    rf"{re.escape(BOOKS[BOOK].title)})\. Nothing was charged"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shops(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[RunningShop]]:
    """One shop process on SQLite; or two on one PostgreSQL database, the second using the
    first one's sandbox (which sends its webhooks to the first)."""
    if request.param == "sqlite":
        with running_shop(tmp_path) as shop:
            yield [shop]
        return
    url: str = request.getfixturevalue("postgres_url")
    with (
        running_shop(tmp_path, database_url=url) as first,
        running_shop(tmp_path, database_url=url, sandbox=first.sandbox) as second,
    ):
        yield [first, second]


@dataclass
class Shopper:
    """A browser's worth of state: its own cookies, the CSRF token of its page, the pay step's
    form as the book's checkout page shows it (with the card's ConfirmationToken)."""

    http: httpx.AsyncClient
    csrf: str = ""
    form: dict[str, str] | None = None

    async def get_ready(self, stripe: httpx.AsyncClient) -> None:
        """Give the address, open the book's checkout page, type the card (make its token)."""
        checkout = f"/checkout/{BOOK}"
        asked = await self.http.get("/checkout/address", params={"next": checkout})
        given = await self.http.post(
            "/checkout/address",
            data={**SINGAPORE, "next": checkout, "csrf_token": csrf_of(asked.text)},
        )
        assert given.status_code == 303, given.text
        page = await self.http.get(given.headers["Location"])
        assert page.status_code == 200 and "payment-form" in page.text, page.text
        self.csrf = csrf_of(page.text)
        token = await stripe.post(
            "/v1/test_helpers/confirmation_tokens", data={"payment_method": VISA}
        )
        token.raise_for_status()
        self.form = shown_on(
            page.text, email=EMAIL, confirmation_token=token.json()["id"], quantity="1"
        )

    async def press_pay(self) -> httpx.Response:
        """The pay step, as checkout.js posts it with htmx."""
        assert self.form is not None
        return await self.http.post(
            f"/checkout/{BOOK}/pay",
            data=self.form,
            headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
        )


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "every page carries the session's CSRF token"
    return found[1]


async def set_stock(database_url: str, copies: int) -> None:
    database = Database(database_url)
    await database.open()
    try:
        await Stock(database).set(BOOK, copies, "test: the race")
    finally:
        await database.close()


async def stock_after(database_url: str) -> tuple[StockLevel, list[StockMove], list[Any]]:
    """The book's level and moves, and every checkout's copies still held (none, by then)."""
    database = Database(database_url)
    await database.open()
    try:
        books = Stock(database)
        (level,) = await books.levels(BOOK)
        held = await books.expired(datetime.now(UTC) + timedelta(days=365))
        return level, await books.moves(BOOK), held
    finally:
        await database.close()


async def orders_after(database_url: str) -> list[Order]:
    ledger = Ledger(database_url)
    await ledger.open()
    try:
        return await ledger.recent(limit=100)
    finally:
        await ledger.close()


def intent_ids(shop: RunningShop) -> set[str]:
    listed = shop.sandbox.client().v1.payment_intents.list(params={"limit": 100})
    return {intent.id for intent in listed.auto_paging_iter()}


def refund_ids(shop: RunningShop) -> set[str]:
    listed = shop.sandbox.client().v1.refunds.list(params={"limit": 100})
    return {refund.id for refund in listed.auto_paging_iter()}


async def webhooks_taken(shop: RunningShop, intents: set[str]) -> None:
    """Wait until the shop has taken (2xx) every event the sandbox made about these intents:
    a webhook that sold or refunded anything has done so by then."""
    deadline = time.monotonic() + WEBHOOKS_WAIT_S
    while True:
        events = {
            event["id"]
            for event in shop.sandbox.events()
            if event["data"]["object"]["id"] in intents
            or event["data"]["object"].get("payment_intent") in intents
        }
        taken = {attempt["event"] for attempt in shop.sandbox.webhook_attempts() if attempt["ok"]}
        if events and events <= taken:
            return
        assert time.monotonic() < deadline, f"webhooks not taken: {sorted(events - taken)}"
        await asyncio.sleep(0.2)


async def test_fifty_shoppers_paying_for_the_last_three_copies_at_once_charge_exactly_three(
    shops: list[RunningShop],
) -> None:
    first = shops[0]
    database_url = first.database_url
    await set_stock(database_url, COPIES)
    intents_before, refunds_before = intent_ids(first), refund_ids(first)
    stripe = httpx.AsyncClient(
        base_url=first.sandbox.url, auth=(first.sandbox.secret_key, ""), timeout=TIMEOUT_S
    )
    # Shopper i uses shop i mod 2 throughout (its session would do on either: one secret).
    shoppers = [
        Shopper(httpx.AsyncClient(base_url=shops[i % len(shops)].url, timeout=TIMEOUT_S))
        for i in range(SHOPPERS)
    ]
    try:
        await asyncio.gather(*(shopper.get_ready(stripe) for shopper in shoppers))
        started = time.monotonic()
        answers = await asyncio.gather(*(shopper.press_pay() for shopper in shoppers))
        took = time.monotonic() - started
    finally:
        await asyncio.gather(stripe.aclose(), *(shopper.http.aclose() for shopper in shoppers))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: COPIES, 409: SHOPPERS - COPIES}, (statuses, took)
    paid = [answer for answer in answers if answer.status_code == 200]
    assert all(RECEIPT in answer.text for answer in paid)
    pushed = [PUSHED_INTENT.search(answer.headers["HX-Push-Url"]) for answer in paid]
    receipts = {found[1] for found in pushed if found}
    assert len(receipts) == COPIES
    refused = [answer for answer in answers if answer.status_code == 409]
    assert all(TOO_LATE.search(html.unescape(answer.text)) for answer in refused)
    assert all(answer.headers["HX-Retarget"] == "#checkout-summary" for answer in refused)

    # Stripe: an intent for each receipt, paid with one charge, and none for the 47.
    await webhooks_taken(first, receipts)
    stripe_client = first.sandbox.client()
    assert intent_ids(first) - intents_before == receipts
    for intent_id in receipts:
        intent = stripe_client.v1.payment_intents.retrieve(intent_id)
        assert intent.status == "succeeded"
        assert intent.metadata.to_dict()["lines_1"].startswith(f"{BOOK}:1:")
        charges = stripe_client.v1.charges.list(params={"payment_intent": intent_id}).data
        assert [(charge.status, charge.amount_refunded) for charge in charges] == [("succeeded", 0)]
    assert refund_ids(first) == refunds_before  # nothing refunded

    # The shop: the 3 copies sold, once each, to the 3 paid orders; nothing held or given back.
    level, moves, held = await stock_after(database_url)
    assert level == StockLevel(BOOK, 0, 0, COPIES)
    assert Counter(move.kind for move in moves) == {"set": 1, "reserved": COPIES, "sold": COPIES}
    sold = Counter(move.reference for move in moves if move.kind == "sold")
    assert sold == dict.fromkeys(receipts, 1)
    assert held == []
    orders = await orders_after(database_url)
    assert {order.intent_id for order in orders} == receipts
    assert all(order.status == "paid" and order.refund_reason is None for order in orders)
