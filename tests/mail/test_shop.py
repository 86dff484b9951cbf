"""Mail from the running shop: an order paid through Stripe's webhook alone is confirmed once
however often the event arrives, a refund made in the back office and Stripe's webhook for it
make one refund notice, and outside tests the shop's own sender task delivers (and stops with
the shop); on SQLite and PostgreSQL, against the sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from quart import Quart

from bookshop import create_app, server
from bookshop.config import Settings
from bookshop.mail import sender as sending
from bookshop.mail.sender import Sender
from bookshop.orders import Ledger
from tests.admin.test_refunds import (
    BOOK,
    charge_at_stripe,
    deliver_refund_events,
    lines,
    paid_order,
    refund,
)
from tests.fixtures.app import Client, confirm_like_stripe_js, deliver_to_singapore
from tests.fixtures.sandbox import SandboxServer
from tests.mail.conftest import PUBLIC_URL, MailServer
from tests.mail.orders import money, text_of
from tests.test_webhooks import deliver, open_checkout, sandbox_event

VISA = "4242424242424242"


@pytest.fixture
def settings(settings: Settings, database_url: str, mail_server: MailServer) -> Settings:
    """The shop's test settings on this test's database, its mail sent to `mail_server`."""
    return replace(
        settings, database_url=database_url, smtp_url=mail_server.url, public_url=PUBLIC_URL
    )


def sender_of(app: Quart, settings: Settings) -> Sender:
    """A sender on the shop's database, as the shop's own task runs it."""
    ledger: Ledger = app.extensions["ledger"]
    return Sender(ledger.database, settings)


async def test_an_order_paid_through_the_webhook_alone_is_confirmed_once(
    app: Quart,
    client: Client,
    settings: Settings,
    sandbox: SandboxServer,
    mail_server: MailServer,
) -> None:
    # Paid after 3D Secure, the shopper's tab closed: no result page, only Stripe's event.
    intent_id, secret = await open_checkout(client, sandbox)
    confirm_like_stripe_js(sandbox, secret, VISA, "eve@example.com")
    event = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
    sender = sender_of(app, settings)

    for _ in range(3):
        assert (await deliver(client, settings, event)).status_code == 200
        await sender.run_once()

    order = await app.extensions["ledger"].get(intent_id)
    assert order.status == "paid"
    (delivery,) = mail_server.deliveries
    assert delivery.rcpt_tos == ["eve@example.com"]
    assert delivery.message["Subject"] == f"Your order {order.number}"
    assert f"Your order number is {order.number}." in text_of(delivery.message)


async def test_a_back_office_refund_and_stripes_webhook_for_it_make_one_notice(
    shop: Quart,
    shopper: Client,
    owner: Client,
    settings: Settings,
    sandbox: SandboxServer,
    mail_server: MailServer,
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 2))
    sender = sender_of(shop, settings)
    await sender.run_once()

    answer = await refund(owner, order, lines((BOOK, 1)))
    assert answer.status_code in (200, 303), await answer.get_data(as_text=True)
    await sender.run_once()
    assert await deliver_refund_events(shop, sandbox, charge_at_stripe(sandbox, order.intent_id).id)
    await sender.run_once()

    assert [str(m["Subject"]) for m in mail_server.messages()] == [
        f"Your order {order.number}",
        f"A refund for your order {order.number}",
    ]
    notice = mail_server.messages("refunded")[0]
    assert f"We have refunded {money(2900)} of your order {order.number}" in text_of(notice)


async def test_outside_tests_the_shop_sends_its_mail_by_itself_and_stops_with_it(
    settings: Settings,
    sandbox: SandboxServer,
    mail_server: MailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not in the test session's process: it would keep every test's objects from the collector.
    monkeypatch.setattr(server, "freeze_startup_objects", lambda: None)
    app = create_app(replace(settings, env="development"))
    async with app.test_app() as running:
        client = await deliver_to_singapore(running.app.test_client())  # type: ignore[attr-defined]
        intent_id, secret = await open_checkout(client, sandbox)
        confirm_like_stripe_js(sandbox, secret, VISA, "eve@example.com")
        event = sandbox_event(sandbox, "payment_intent.succeeded", intent_id)
        assert (await deliver(client, settings, event)).status_code == 200
        task = app.extensions["sender"]
        async with asyncio.timeout(sending.EVERY_SECONDS * 3):
            while not mail_server.deliveries:
                await asyncio.sleep(0.05)

    assert "sender" not in app.extensions
    assert task.cancelled()
    assert [delivery.rcpt_tos for delivery in mail_server.deliveries] == [["eve@example.com"]]
