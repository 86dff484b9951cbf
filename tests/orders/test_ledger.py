"""The ledger's transitions: conditional status changes and the pay step's writes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bookshop.orders import Ledger
from tests.orders.intents import (
    BOOK,
    PRICE,
    copies,
    event,
    intent,
    paid,
    refund_event,
    state,
)


async def test_the_pay_step_writes_an_open_order_and_its_new_quantity(ledger: Ledger) -> None:
    # Unpaid answers (3D Secure under way, say), the same intent updated between them.
    await ledger.record_payment(intent(quantity=1))
    await ledger.record_payment(intent(quantity=3))
    await ledger.record_payment(intent(quantity=3, email="ada@example.com"))

    order = await ledger.get("pi_ledger1")

    assert order is not None
    assert (order.status, order.lines[0].book_id, copies(order), order.amount, order.currency) == (
        "open",
        BOOK,
        3,
        3 * PRICE,
        "sgd",
    )
    assert order.email == "ada@example.com"
    assert order.created_at.tzinfo is not None


async def test_paid_order_never_goes_back_to_open_or_changes_quantity(ledger: Ledger) -> None:
    await ledger.record_payment(intent(quantity=2))
    await ledger.apply_state(state(quantity=2))

    await ledger.record_payment(intent(quantity=5))  # a late answer of the shop's own
    await ledger.apply_event(
        event(
            "evt_late",
            "payment_intent.payment_failed",
            state(status="requires_payment_method", decline_code="card_declined", charge_id=None),
            1_800_000_000,
        )
    )
    await ledger.apply_state(state(status="requires_payment_method", decline_code="x"))

    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, copies(order), order.amount, order.charge_id) == (
        "paid",
        2,
        2 * PRICE,
        "ch_1",
    )


@pytest.mark.parametrize("path", ["result page", "webhook"])
async def test_a_paid_order_takes_amount_and_quantity_from_the_intent_that_was_paid(
    ledger: Ledger, path: str
) -> None:
    # The ledger last heard 5 copies; Stripe charged for 2.
    await ledger.record_payment(intent(quantity=5))
    if path == "webhook":
        succeeded, sent = state(quantity=2), int(time.time()) + 1
        await ledger.apply_event(event("evt_paid", "payment_intent.succeeded", succeeded, sent))
    else:
        await ledger.mark_paid(paid(quantity=2))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, copies(order), order.amount) == ("paid", 2, 2 * PRICE)


async def test_result_page_marks_paid_once(ledger: Ledger) -> None:
    await ledger.record_payment(intent())
    receipt = paid(email="bo@example.com")
    assert await ledger.mark_paid(receipt) is True
    assert await ledger.mark_paid(receipt) is False
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.charge_id, order.email) == ("paid", "ch_9", "bo@example.com")


async def test_polls_of_a_paid_order_read_without_the_sqlite_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite3"
    ledger = Ledger(f"sqlite+aiosqlite:///{path}")
    await ledger.open()
    receipt = paid()
    await ledger.record_payment(intent())
    assert await ledger.mark_paid(receipt) is True
    # Another process mid-write: a poll of the paid result must not queue behind it.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert await ledger.mark_paid(receipt) is False
        order = await ledger.get("pi_ledger1")
        assert order is not None and order.status == "paid"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        await ledger.close()


async def test_failed_attempts_are_counted_then_paid(ledger: Ledger) -> None:
    await ledger.record_payment(intent())
    sent = int(time.time()) + 1  # Stripe's events, made after the pay step's answer
    declined = state(status="requires_payment_method", decline_code="insufficient_funds")
    for number in (1, 2):
        await ledger.apply_event(
            event(f"evt_fail{number}", "payment_intent.payment_failed", declined, sent)
        )
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.attempts, order.decline_code) == ("failed", 2, "insufficient_funds")

    await ledger.apply_event(event("evt_ok", "payment_intent.succeeded", state(), sent + 1))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.attempts, order.charge_id) == ("paid", 2, "ch_1")


async def test_an_event_id_is_applied_once(ledger: Ledger) -> None:
    await ledger.record_payment(intent())
    declined = state(status="requires_payment_method", decline_code="card_declined")
    sent = int(time.time()) + 1
    failed = event("evt_once", "payment_intent.payment_failed", declined, sent)

    first = await ledger.apply_event(failed)
    again = await ledger.apply_event(failed)

    assert (first.replay, again.replay) == (False, True)
    assert await ledger.event_seen("evt_once")
    order = await ledger.get("pi_ledger1")
    assert order is not None and order.attempts == 1


async def test_event_older_than_the_ledger_is_recorded_only_with_its_re_read(
    ledger: Ledger,
) -> None:
    await ledger.apply_event(event("evt_new", "payment_intent.succeeded", state(), 1_800_000_010))
    declined = state(status="requires_payment_method", decline_code="card_declined")
    old = event("evt_old", "payment_intent.payment_failed", declined, 1_800_000_001)

    late = await ledger.apply_event(old)
    unrecorded = not await ledger.event_seen("evt_old")  # so a failed re-read can be retried
    applied = await ledger.apply_late(old, paid())
    again = await ledger.apply_late(old, paid())

    assert late.stale and not late.replay and unrecorded
    assert (applied.replay, again.replay) == (False, True)
    order = await ledger.get("pi_ledger1")
    assert order is not None
    # The decline is counted (as it is when heard in order), once; the status stays paid.
    assert (order.status, order.attempts) == ("paid", 1)
    assert (await ledger.apply_event(old)).replay


async def test_a_late_decline_that_reconcile_counted_already_is_not_counted_again(
    ledger: Ledger,
) -> None:
    await ledger.record_payment(intent())
    declined = state(status="requires_payment_method", decline_code="card_declined")
    await ledger.apply_state(declined)  # reconcile saw the decline while its event was refused
    old = event("evt_decline", "payment_intent.payment_failed", declined, 1_700_000_000)

    assert (await ledger.apply_event(old)).stale
    await ledger.apply_late(old, declined)

    order = await ledger.get("pi_ledger1")
    assert order is not None and (order.status, order.attempts) == ("failed", 1)


async def test_a_partial_refund_keeps_the_order_paid_and_a_later_full_one_refunds_it(
    ledger: Ledger,
) -> None:
    await ledger.apply_event(event("evt_paid", "payment_intent.succeeded", state(), 1_800_000_000))

    await ledger.apply_event(refund_event("evt_part", "pi_ledger1", 1200, 1_800_000_010))
    partly = await ledger.get("pi_ledger1")
    await ledger.apply_event(refund_event("evt_rest", "pi_ledger1", PRICE, 1_800_000_020))
    wholly = await ledger.get("pi_ledger1")

    assert partly is not None and wholly is not None
    assert (partly.status, partly.amount_refunded) == ("paid", 1200)
    assert (wholly.status, wholly.amount_refunded) == ("refunded", PRICE)


async def test_event_for_an_unknown_intent_creates_the_order_from_its_metadata(
    ledger: Ledger,
) -> None:
    await ledger.apply_event(event("evt_first", "payment_intent.succeeded", state(), 1_800_000_000))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.lines[0].book_id, order.email) == ("paid", BOOK, "ada@example.com")


async def test_intents_that_are_not_checkouts_are_ignored(ledger: Ledger) -> None:
    stranger = state("pi_stranger", lines=())
    assert await ledger.apply_state(stranger) is None
    await ledger.apply_event(event("evt_s", "payment_intent.succeeded", stranger, 1_800_000_000))
    assert await ledger.get("pi_stranger") is None


async def test_refund_and_cancel_move_orders_forward_only(ledger: Ledger) -> None:
    await ledger.apply_state(state("pi_refund"))
    await ledger.apply_event(refund_event("evt_refund", "pi_refund", PRICE))
    await ledger.apply_state(state("pi_refund"))  # the intent still says succeeded

    await ledger.record_payment(intent("pi_cancel"))
    await ledger.apply_state(state("pi_cancel", status="canceled", charge_id=None))
    await ledger.apply_state(state("pi_cancel", status="succeeded"))

    refunded, canceled = await ledger.get("pi_refund"), await ledger.get("pi_cancel")
    assert refunded is not None and canceled is not None
    assert (refunded.status, refunded.amount_refunded) == ("refunded", PRICE)
    assert canceled.status == "canceled"


async def test_a_refund_of_an_order_never_seen_paid_asks_for_a_re_read(ledger: Ledger) -> None:
    # The ledger last heard 5 copies; Stripe charged 2 and the succeeded event was lost.
    await ledger.record_payment(intent("pi_unheard", quantity=5))
    refund = refund_event("evt_refund_unheard", "pi_unheard", 2 * PRICE, 1_800_000_100)
    assert (await ledger.apply_event(refund)).stale

    charged = paid("pi_unheard", quantity=2)
    assert charged.charge is not None
    refunded = replace(charged.charge, amount_refunded=2 * PRICE, refunded=True)
    result = await ledger.apply_late(refund, replace(charged, charge=refunded))
    order = await ledger.get("pi_unheard")
    assert result.change is not None and order is not None
    assert (order.status, copies(order), order.amount) == ("refunded", 2, 2 * PRICE)
    assert await ledger.event_seen("evt_refund_unheard")


async def test_applying_the_same_state_twice_changes_nothing_the_second_time(
    ledger: Ledger,
) -> None:
    paid = state()
    first = await ledger.apply_state(paid)
    second = await ledger.apply_state(paid)
    assert first is not None and first.before is None and first.after.status == "paid"
    assert second is None


async def test_recent_lists_paid_orders_first_then_newest(ledger: Ledger) -> None:
    # The open orders are the newest: paid ones are listed first all the same.
    await ledger.record_payment(intent("pi_a", created=1_800_000_050))
    await ledger.apply_state(state("pi_b", created=1_800_000_000))
    await ledger.record_payment(intent("pi_c", created=1_800_000_150))
    await ledger.apply_state(state("pi_d", created=1_800_000_100))

    listed = [order.intent_id for order in await ledger.recent()]

    assert listed == ["pi_d", "pi_b", "pi_c", "pi_a"]
