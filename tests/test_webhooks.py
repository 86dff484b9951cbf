"""POST /webhooks/stripe: signatures, replays, order, retries and races (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart
from sqlalchemy import func, select

from bookshop import create_app
from bookshop.config import Settings
from bookshop.orders import Ledger, Order
from bookshop.orders.schema import webhook_events
from bookshop.stock import Stock
from tests.fixtures.app import Client, confirm_like_stripe_js, deliver_to_singapore
from tests.fixtures.paying import THREE_D_SECURE, press_pay
from tests.fixtures.sandbox import SandboxServer, free_port

URL = "/webhooks/stripe"
VISA, DECLINED = "4242424242424242", "4000000000009995"
WAIT_S = 20.0


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers as Stripe sends them: `t=<unix>,v1=<HMAC-SHA256 of "t." + body>`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}", "Content-Type": "application/json"}


@pytest.fixture
def settings(settings: Settings, database_url: str) -> Settings:
    """The shop's test settings on this test's database (SQLite, then PostgreSQL)."""
    return replace(settings, database_url=database_url)


def ledger_of(app: Quart) -> Ledger:
    ledger: Ledger = app.extensions["ledger"]
    return ledger


async def open_checkout(
    client: Client, sandbox: SandboxServer, book: str = "code"
) -> tuple[str, str]:
    """Press Pay on a book's checkout with a card that asks for 3D Secure, and leave the
    challenge open (the tab closes): the shop has recorded the order, still open. Returns the
    intent id and the client secret the pay step's answer carried."""
    response = await press_pay(client, sandbox, f"/checkout/{book}", THREE_D_SECURE)
    secret = (await response.get_data(as_text=True)).split('data-client-secret="')[1].split('"')[0]
    return secret.split("_secret_")[0], secret


def sandbox_event(sandbox: SandboxServer, kind: str, object_id: str) -> dict[str, Any]:
    """The sandbox's (newest) event of this type about this object."""
    for found in sandbox.events(kind):
        if found["data"]["object"]["id"] == object_id:
            return found
    raise AssertionError(f"the sandbox has no {kind} event for {object_id}")


async def deliver(
    client: Client, settings: Settings, event: dict[str, Any], timestamp: int | None = None
) -> Any:
    """POST the event signed with the shop's webhook secret, as Stripe would."""
    body = json.dumps(event).encode()
    return await client.post(
        URL, data=body, headers=sign(body, settings.stripe_webhook_secret, timestamp)
    )


async def order_of(app: Quart, intent_id: str) -> Order:
    order = await ledger_of(app).get(intent_id)
    assert order is not None, f"no order for {intent_id}"
    return order


async def test_signed_succeeded_event_marks_the_order_paid(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, VISA, "ada@example.com")
    event = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)

    response = await deliver(client, settings, event)

    assert response.status_code == 200
    assert (await response.get_json())["replay"] is False
    order = await order_of(app, intent_id)
    assert (order.status, order.email) == ("paid", "ada@example.com")
    assert order.charge_id == event["data"]["object"]["latest_charge"]
    assert await ledger_of(app).event_seen(event["id"])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": "t=1,v1=00"},
        {"Stripe-Signature": "garbage"},
        "wrong-secret",
        "too-old",
    ],
    ids=["missing", "forged", "malformed", "wrong-secret", "too-old"],
)
async def test_unverified_event_is_refused_without_touching_the_ledger(
    app: Quart,
    client: Client,
    settings: Settings,
    sandbox: SandboxServer,
    headers: dict[str, str] | str,
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, VISA)
    event = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    body = json.dumps(event).encode()
    if headers == "wrong-secret":
        headers = sign(body, "whsec_not_the_shops")
    elif headers == "too-old":
        headers = sign(body, settings.stripe_webhook_secret, int(time.time()) - 3600)
    assert isinstance(headers, dict)

    response = await client.post(URL, data=body, headers=headers)

    assert response.status_code == 400
    assert (await order_of(app, intent_id)).status == "open"
    assert not await ledger_of(app).event_seen(event["id"])


async def test_signed_body_that_is_not_an_event_is_refused(
    client: Client, settings: Settings
) -> None:
    for body in (b"{not json", b"[1, 2]", b'{"id": "evt_1", "object": "event"}'):
        response = await client.post(
            URL, data=body, headers=sign(body, settings.stripe_webhook_secret)
        )
        assert response.status_code == 400, body


async def test_body_over_the_size_limit_is_refused(
    app: Quart, client: Client, settings: Settings
) -> None:
    event = {
        "id": "evt_big",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"object": "payment_intent", "id": "pi_big", "padding": "x" * 70_000}},
    }

    response = await deliver(client, settings, event)

    # The app-wide body limit (security.py) may answer 413 before the endpoint's own 400.
    assert response.status_code in (400, 413)
    assert not await ledger_of(app).event_seen("evt_big")
    assert await ledger_of(app).get("pi_big") is None


async def test_duplicate_delivery_is_a_200_no_op(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, DECLINED)
    failed = sandbox_event(sandbox, "payment_intent.payment_failed", intent_id)

    answers = [await deliver(client, settings, failed) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [(await answer.get_json())["replay"] for answer in answers] == [False, True, True]
    order = await order_of(app, intent_id)
    assert (order.status, order.attempts, order.decline_code) == ("failed", 1, "insufficient_funds")


async def test_payment_failed_then_succeeded_ends_paid(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, DECLINED)
    confirm_like_stripe_js(sandbox, secret, VISA)
    failed = sandbox_event(sandbox, "payment_intent.payment_failed", intent_id)
    succeeded = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)

    for event in (failed, succeeded, failed):  # the late duplicate changes nothing
        assert (await deliver(client, settings, event)).status_code == 200

    order = await order_of(app, intent_id)
    assert (order.status, order.attempts, order.decline_code) == ("paid", 1, "insufficient_funds")


@pytest.mark.parametrize("webhook_first", [True, False], ids=["before-result", "after-result"])
async def test_succeeded_webhook_and_result_page_agree_in_either_order(
    app: Quart,
    client: Client,
    settings: Settings,
    sandbox: SandboxServer,
    webhook_first: bool,
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, VISA, "eve@example.com")
    event = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    status_url = f"/payment/status?payment_intent={intent_id}&payment_intent_client_secret={secret}"

    if webhook_first:
        assert (await deliver(client, settings, event)).status_code == 200
        assert (await order_of(app, intent_id)).status == "paid"
    page = await client.get(status_url)
    if not webhook_first:
        assert (await order_of(app, intent_id)).status == "paid"
        assert (await deliver(client, settings, event)).status_code == 200

    assert page.status_code == 200
    order = await order_of(app, intent_id)
    assert (order.status, order.email) == ("paid", "eve@example.com")
    assert order.charge_id == event["data"]["object"]["latest_charge"]
    assert "Payment received" in await page.get_data(as_text=True)


async def test_canceled_and_refunded_events_update_the_order(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    stripe = sandbox.client()
    canceled_id, _ = await open_checkout(client, sandbox, "code")
    stripe.v1.payment_intents.cancel(canceled_id)
    refunded_id, secret = await open_checkout(client, sandbox, "working-in-public")
    confirm_like_stripe_js(sandbox, secret, VISA)
    stripe.v1.refunds.create(params={"payment_intent": refunded_id})
    charge_id = stripe.v1.payment_intents.retrieve(refunded_id).latest_charge
    assert isinstance(charge_id, str)

    for event in (
        sandbox_event(sandbox, "payment_intent.canceled", canceled_id),
        sandbox_event(sandbox, "payment_intent.succeeded", refunded_id),
        sandbox_event(sandbox, "charge.refunded", charge_id),
    ):
        assert (await deliver(client, settings, event)).status_code == 200

    assert (await order_of(app, canceled_id)).status == "canceled"
    refunded = await order_of(app, refunded_id)
    assert (refunded.status, refunded.amount_refunded) == ("refunded", refunded.amount)


async def test_late_event_is_applied_with_a_re_read_and_its_decline_still_counts(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, DECLINED)
    confirm_like_stripe_js(sandbox, secret, VISA)
    failed = sandbox_event(sandbox, "payment_intent.payment_failed", intent_id)
    succeeded = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    succeeded["created"] = failed["created"] + 60  # make the order of events unmistakable

    await deliver(client, settings, succeeded)
    late = await deliver(client, settings, failed)

    assert late.status_code == 200
    order = await order_of(app, intent_id)
    # The same ending as the in-order test above: paid, one decline.
    assert (order.status, order.attempts) == ("paid", 1)
    assert await ledger_of(app).event_seen(failed["id"])


async def test_late_event_while_stripe_is_down_is_a_503_and_applied_when_sent_again(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, VISA)
    succeeded = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    await deliver(client, settings, succeeded)
    stripe = sandbox.client()
    stripe.v1.refunds.create(params={"payment_intent": intent_id})
    charge_id = stripe.v1.payment_intents.retrieve(intent_id).latest_charge
    assert isinstance(charge_id, str)
    refunded = sandbox_event(sandbox, "charge.refunded", charge_id)
    refunded["created"] = succeeded["created"] - 60  # older than what the ledger has seen

    sandbox.set_faults(fail_rate=1.0)
    try:
        refused = await deliver(client, settings, refunded)
        unrecorded = not await ledger_of(app).event_seen(refunded["id"])
    finally:
        sandbox.set_faults()
    retried = await deliver(client, settings, refunded)

    assert (refused.status_code, unrecorded) == (503, True)
    assert (retried.status_code, (await retried.get_json())["replay"]) == (200, False)
    order = await order_of(app, intent_id)
    assert (order.status, order.amount_refunded) == ("refunded", order.amount)


async def test_two_shops_on_one_database_take_the_same_event_once(
    client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, VISA)
    event = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    first, second = create_app(settings), create_app(settings)
    async with first.test_app() as one, second.test_app() as two:
        answers = await asyncio.gather(
            *(
                deliver(shop.test_client(), settings, event)
                for shop in (one, two, one, two)
                for _ in range(2)
            )
        )
        replays = [(await answer.get_json())["replay"] for answer in answers]
        ledger = ledger_of(first)
        order = await ledger.get(intent_id)
        async with ledger.engine.connect() as connection:
            recorded = (
                await connection.execute(
                    select(func.count()).where(webhook_events.c.id == event["id"])
                )
            ).scalar_one()

    assert all(answer.status_code == 200 for answer in answers)
    assert sorted(replays) == [False] + [True] * 7
    assert order is not None and order.status == "paid"
    assert recorded == 1


@pytest.fixture
async def served_later(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    """A URL on a free port where the shop is down until the test calls `start()`."""
    port = free_port()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start() -> Quart:
        app = create_app(settings)
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        tasks.append(asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait)))  # type: ignore[arg-type]
        deadline = time.monotonic() + WAIT_S
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return app
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the shop did not start"
                await asyncio.sleep(0.05)

    yield f"http://127.0.0.1:{port}{URL}", start
    stop.set()
    await asyncio.gather(*tasks)


async def test_shop_down_while_stripe_retries_then_up_ends_paid(
    client: Client, settings: Settings, sandbox: SandboxServer, served_later: tuple[str, Any]
) -> None:
    url, start = served_later
    sandbox.add_webhook_endpoint(url, settings.stripe_webhook_secret)
    try:
        intent_id, secret = await open_checkout(client, sandbox)
        confirm_like_stripe_js(sandbox, secret, VISA)
        event_id = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)["id"]
        deadline = time.monotonic() + WAIT_S
        while not any(
            attempt["event"] == event_id and attempt["url"] == url and not attempt["ok"]
            for attempt in sandbox.webhook_attempts()
        ):
            assert time.monotonic() < deadline, "the sandbox never tried the shop while it was down"
            await asyncio.sleep(0.1)

        app = await start()

        while (order := await ledger_of(app).get(intent_id)) is None or order.status != "paid":
            assert time.monotonic() < deadline + WAIT_S, f"order still {order}"
            await asyncio.sleep(0.2)
        assert await ledger_of(app).event_seen(event_id)
    finally:
        sandbox.remove_webhook_endpoint(url)


async def test_endpoint_is_absent_without_a_webhook_secret(settings: Settings) -> None:
    app = create_app(replace(settings, stripe_webhook_secret=""))
    async with app.test_app() as test_app:
        response = await test_app.test_client().post(URL, data=b"{}")
    assert response.status_code in (404, 405)


async def test_a_succeeded_event_for_copies_sold_meanwhile_is_refunded_at_once(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    books: Stock = app.extensions["stock"]
    await books.set("code", 1, "test")
    intent_id, secret = await open_checkout(client, sandbox)
    # Its hold lapsed unheard (the pay step's answer lost), and another shopper bought the copy.
    order = await order_of(app, intent_id)
    assert await books.release("lost", intent_id=intent_id) == 1
    other = await deliver_to_singapore(app.test_client())
    assert (await press_pay(other, sandbox, "/checkout/code", "pm_card_visa")).status_code == 200
    confirm_like_stripe_js(sandbox, secret, VISA, "ada@example.com")

    response = await deliver(
        client, settings, sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    )

    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while (order := await order_of(app, intent_id)).status != "refunded":
        assert time.monotonic() < deadline, f"not refunded: {order}"
        await asyncio.sleep(0.05)
    assert order.refund_reason == "out of stock"
    assert len(sandbox.client().v1.refunds.list(params={"payment_intent": intent_id}).data) == 1
    (level,) = await books.levels("code")
    assert (level.on_hand, level.reserved, level.sold) == (0, 0, 1)  # the other shopper's copy
