"""The outbox: each message written in the transaction of the change it tells of, once however
often and by whichever path the change arrives; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bookshop.mail.sender import Sender
from bookshop.orders import Ledger
from tests.mail.conftest import MailServer
from tests.mail.orders import (
    EMAIL,
    money,
    order_of,
    outbox_rows,
    paid_intent,
    pay,
    refunded,
    staff_refund,
    text_of,
    writer,
)
from tests.orders.intents import event, intent, refund_event, state


async def test_an_order_paid_by_every_path_again_and_again_is_confirmed_once(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    paying = paid_intent()
    await ledger.record_payment(intent("pi_mail1", email=EMAIL))  # the pay step, 3D Secure open

    for _ in range(3):
        await ledger.apply_event(event("evt_paid", "payment_intent.succeeded", paying, 1))
        await ledger.mark_paid(paying)  # the result page, polled
        await ledger.apply_event(event("evt_again", "payment_intent.succeeded", paying, 2))
        await ledger.apply_state(paying)  # reconcile
        await ledger.record_payment(paying)  # the pay step's late answer
        await sender.run_once()

    assert (await order_of(ledger)).status == "paid"
    (row,) = await outbox_rows(ledger)
    assert (row.kind, row.key, row.recipient) == ("confirmation", "confirmation:pi_mail1", EMAIL)
    (delivery,) = mail_server.deliveries
    assert delivery.rcpt_tos == [EMAIL]
    assert delivery.message["Subject"] == f"Your order {(await order_of(ledger)).number}"


async def test_an_order_without_an_email_gets_no_message(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    await pay(ledger, email=None)
    await ledger.mark_shipped("pi_mail1", "SingPost", None, writer(ledger))

    assert await outbox_rows(ledger) == []
    assert await sender.run_once() == 0
    assert mail_server.deliveries == []


async def test_marking_an_order_shipped_writes_its_shipping_notice_once(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    await pay(ledger)
    await sender.run_once()

    await ledger.mark_shipped("pi_mail1", "SingPost", "RR123456789SG", writer(ledger))
    await sender.run_once()

    assert [row.key for row in await outbox_rows(ledger)] == [
        "confirmation:pi_mail1",
        "shipped:pi_mail1",
    ]
    (notice,) = mail_server.messages("shipped")
    text = text_of(notice)
    assert "Carrier: SingPost" in text
    assert "Tracking number: RR123456789SG" in text


async def test_a_shipping_notice_whose_audit_entry_fails_is_not_written(ledger: Ledger) -> None:
    await pay(ledger)

    async def broken(**entry: object) -> bool:
        raise RuntimeError("the audit log's disk is full")

    with pytest.raises(RuntimeError):
        await ledger.mark_shipped("pi_mail1", "SingPost", None, broken)

    assert [row.kind for row in await outbox_rows(ledger)] == ["confirmation"]


async def test_a_staff_refund_and_stripes_event_for_it_make_one_notice(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    paying = await pay(ledger)
    await ledger.refunded(refunded(paying, 1000), staff_refund(1000), writer(ledger))
    await sender.run_once()

    # Stripe's charge.refunded for the same refund, twice, and reconcile's read of it.
    for _ in range(2):
        await ledger.apply_event(refund_event("evt_refund", "pi_mail1", 1000, 1_900_000_000))
    await ledger.apply_state(refunded(paying, 1000))
    await sender.run_once()

    refunds = [row for row in await outbox_rows(ledger) if row.kind == "refunded"]
    assert [row.key for row in refunds] == ["refunded:pi_mail1:1000"]
    (notice,) = mail_server.messages("refunded")
    assert f"We have refunded {money(1000)}" in text_of(notice)


async def test_each_further_refund_has_a_notice_of_its_own_amount(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    paying = await pay(ledger)
    total = paying.amount
    await ledger.apply_event(refund_event("evt_refund1", "pi_mail1", 1000, 1_900_000_000))
    await ledger.refunded(refunded(paying, total), staff_refund(total, "refund-2"), writer(ledger))
    # A late event about the first refund says less than the ledger knows: nothing new.
    await ledger.apply_event(refund_event("evt_refund0", "pi_mail1", 500, 1_900_000_001))
    await sender.run_once()

    refunds = [row for row in await outbox_rows(ledger) if row.kind == "refunded"]
    assert [row.key for row in refunds] == ["refunded:pi_mail1:1000", f"refunded:pi_mail1:{total}"]
    first, second = (text_of(notice) for notice in mail_server.messages("refunded"))
    assert f"We have refunded {money(1000)} of your order" in first
    assert f"In all, {money(1000)} of the {money(total)} you paid has been refunded." in first
    assert f"We have refunded {money(total - 1000)} of your order" in second
    assert f"Your payment of {money(total)} is refunded in full." in second
    assert (await order_of(ledger)).status == "refunded"


async def test_an_unpaid_order_refunded_before_the_ledger_heard_it_paid_is_confirmed_and_refunded(
    ledger: Ledger, sender: Sender, mail_server: MailServer
) -> None:
    await ledger.record_payment(intent("pi_mail1", email=EMAIL))
    paying = paid_intent()

    await ledger.apply_state(refunded(paying, paying.amount))
    await ledger.apply_state(refunded(paying, paying.amount))
    await sender.run_once()

    assert [row.kind for row in await outbox_rows(ledger)] == ["confirmation", "refunded"]
    assert len(mail_server.deliveries) == 2


async def test_a_failed_payment_writes_no_message(ledger: Ledger) -> None:
    await ledger.record_payment(intent("pi_mail1", email=EMAIL))
    declined = state("pi_mail1", "requires_payment_method", decline_code="card_declined")

    await ledger.apply_state(declined)

    assert await outbox_rows(ledger) == []
