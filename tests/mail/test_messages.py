"""The emails as shoppers receive them over SMTP: what each says, its headers, and what a
shopper's name or email can and cannot do to it (escaped in HTML, never a header or a
recipient)."""

from __future__ import annotations

from dataclasses import replace
from email.headerregistry import Address

import pytest

from bookshop.config import Settings
from bookshop.mail.sender import Sender
from bookshop.orders import Ledger
from bookshop.orders.links import PATH, number_from
from tests.mail.conftest import PUBLIC_URL, Clock, MailServer
from tests.mail.orders import (
    EMAIL,
    html_of,
    money,
    order_of,
    outbox_rows,
    pay,
    text_of,
    writer,
)
from tests.orders.intents import HOME, PRICE

EVIL_BCC = "\r\nBcc: mallory@evil.test"


async def test_the_confirmation_says_what_was_bought_where_it_goes_and_links_to_the_order(
    ledger: Ledger, sender: Sender, mail_server: MailServer, mail_settings: Settings
) -> None:
    await pay(ledger)
    order = await order_of(ledger)

    await sender.run_once()

    (message,) = mail_server.messages()
    assert message["Subject"] == f"Your order {order.number}"
    assert message["From"] == "Bookshop <orders@bookshop.test>"
    assert message["To"] == f"Ada Reader <{EMAIL}>"
    assert str(message["Message-ID"]).endswith("@bookshop.test>")
    assert message["Date"] is not None
    assert message["Auto-Submitted"] == "auto-generated"
    text = text_of(message)
    assert "Thank you for your order, Ada Reader." in text
    assert f"Your order number is {order.number}." in text
    assert f"1 x code: {money(PRICE)}" in text
    assert f"Books: {money(PRICE)}\nDelivery: {money(300)}\nTotal: {money(PRICE + 300)}" in text
    assert "  Ada Reader\n  1 Straits View\n  #12-01\n  Singapore 018937\n  Singapore\n" in text
    assert "It usually arrives in 1-2 working days once it ships" in text
    link = next(line for line in text.splitlines() if line.startswith(PUBLIC_URL))
    assert link.startswith(f"{PUBLIC_URL}{PATH}")
    assert number_from(mail_settings.secret_key, link.removeprefix(f"{PUBLIC_URL}{PATH}")) == (
        order.number
    )
    html = html_of(message)
    assert f"<strong>{order.number}</strong>" in html
    assert f'href="{link}"' in html
    assert "Thank you for your order, Ada Reader" in html
    # Inline styles only: mail clients drop style sheets and classes.
    assert "<style" not in html
    assert "class=" not in html


async def test_the_shipping_notice_gives_carrier_and_tracking_in_both_parts(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    await pay(ledger)
    await ledger.mark_shipped("pi_mail1", "SingPost <Express>", "RR123456789SG", writer(ledger))
    order = await order_of(ledger)

    await sender.run_once()

    (notice,) = mail_server.messages("shipped")
    assert notice["Subject"] == f"Your order {order.number} is on its way"
    assert "Carrier: SingPost <Express>\nTracking number: RR123456789SG" in text_of(notice)
    html = html_of(notice)
    assert "SingPost &lt;Express&gt;" in html
    assert "RR123456789SG" in html


async def test_a_shop_name_beyond_ascii_is_an_encoded_sender_name(
    ledger: Ledger, mail_settings: Settings, mail_server: MailServer, clock: Clock
) -> None:
    settings = replace(mail_settings, shop_name="Bücher & Söhne")
    await pay(ledger)

    await Sender(ledger.database, settings, clock=clock).run_once()

    (delivery,) = mail_server.deliveries
    raw = delivery.message.as_bytes()
    assert b"From: =?utf-8?" in raw  # RFC 2047: the name encoded, the header still ASCII
    assert delivery.message["From"].addresses == (
        Address("Bücher & Söhne", addr_spec="orders@bookshop.test"),
    )
    assert "Bücher &amp; Söhne" in html_of(delivery.message)
    assert text_of(delivery.message).endswith("\nBücher & Söhne\n")


async def test_a_name_with_a_script_is_escaped_in_html_and_plain_text_in_text(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    name = "Ada <script>alert(1)</script>\x1b[31m\u202eRed"
    await pay(ledger, address=replace(HOME, name=name))

    await sender.run_once()

    (message,) = mail_server.messages()
    html = html_of(message)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;[31mRed" in html
    # Plain text is not HTML: the name as typed, less what a terminal or an editor would act on.
    text = text_of(message)
    assert "Thank you for your order, Ada <script>alert(1)</script>[31mRed." in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert message["To"].addresses[0].addr_spec == EMAIL


@pytest.mark.parametrize("where", ["email", "name"])
async def test_a_bcc_in_the_email_or_name_never_adds_a_header_or_a_recipient(
    ledger: Ledger, sender: Sender, mail_server: MailServer, clock: Clock, where: str
) -> None:
    if where == "email":
        await pay(ledger, "pi_evil", email=EMAIL + EVIL_BCC)
    else:
        await pay(ledger, "pi_evil", address=replace(HOME, name="Ada" + EVIL_BCC))
    await pay(ledger, "pi_good")

    # Given up at once, and the round goes on to the next message.
    assert await sender.run_once() == 2
    clock.advance(7200)
    assert await sender.run_once() == 0

    (delivery,) = mail_server.deliveries
    assert delivery.rcpt_tos == [EMAIL]
    assert "Bcc" not in delivery.message
    evil = next(row for row in await outbox_rows(ledger) if row.intent_id == "pi_evil")
    assert evil.sent_at is None and evil.failed_at is not None
    assert evil.attempts == 1
    assert evil.last_error.startswith("Unwritable: the shopper's name or email cannot be")
    assert "\r" not in evil.last_error and "\n" not in evil.last_error
