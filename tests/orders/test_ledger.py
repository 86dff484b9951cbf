"""The ledger's transitions: conditional status changes and the checkout's writes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event as sqlalchemy_event

from bookshop.orders import Ledger
from bookshop.payments import IntentLine
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


async def test_checkout_writes_an_open_order_and_its_new_quantity(ledger: Ledger) -> None:
    await ledger.record_checkout(intent(quantity=1))
    await ledger.record_checkout(intent(quantity=3))
    await ledger.record_checkout(intent(quantity=3, email="ada@example.com"))

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
    await ledger.record_checkout(intent(quantity=2))
    await ledger.apply_state(state(quantity=2))

    await ledger.record_checkout(intent(quantity=5))
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
    await ledger.record_checkout(intent(quantity=5))
    if path == "webhook":
        succeeded = state(quantity=2)
        await ledger.apply_event(event("evt_paid", "payment_intent.succeeded", succeeded, 1))
    else:
        await ledger.mark_paid(paid(quantity=2))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, copies(order), order.amount) == ("paid", 2, 2 * PRICE)


async def test_result_page_marks_paid_once(ledger: Ledger) -> None:
    await ledger.record_checkout(intent())
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
    await ledger.record_checkout(intent())
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


async def test_checkout_writes_hold_the_sqlite_write_lock_only_while_their_statement_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.sqlite3"
    ledger = Ledger(f"sqlite+aiosqlite:///{path}")
    await ledger.open()
    other_process_waited: list[str] = []

    def another_process_writes(*_: object) -> None:
        # Runs on the event loop right after the shop's statement, before its transaction ends:
        # a write from another shop process must not find the lock taken (and sleep on it).
        probe = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            other_process_waited.append(str(error))
        finally:
            probe.close()

    sqlalchemy_event.listen(
        ledger.engine.sync_engine, "after_cursor_execute", another_process_writes
    )
    try:
        await ledger.record_checkout(intent())
        await ledger.record_checkout(intent(quantity=2, email="ada@example.com"))
    finally:
        sqlalchemy_event.remove(
            ledger.engine.sync_engine, "after_cursor_execute", another_process_writes
        )
        await ledger.close()
    assert other_process_waited == []
    ledger = Ledger(f"sqlite+aiosqlite:///{path}")
    await ledger.open()
    order = await ledger.get("pi_ledger1")
    await ledger.close()
    assert order is not None
    assert (copies(order), order.amount, order.email) == (2, 2 * PRICE, "ada@example.com")


async def test_concurrent_checkouts_are_all_written(ledger: Ledger) -> None:
    await asyncio.gather(*(ledger.record_checkout(intent(f"pi_many{n}")) for n in range(40)))
    await ledger.record_checkout(intent("pi_many7", quantity=3))
    orders = {order.intent_id: order for order in await ledger.recent(limit=100)}
    assert len(orders) == 40
    assert (copies(orders["pi_many7"]), copies(orders["pi_many0"])) == (3, 1)


async def test_two_writes_of_one_intent_in_one_batch_keep_the_newer_ones_lines(
    ledger: Ledger,
) -> None:
    # The first write goes alone; the two after it queue meanwhile and go out together.
    three = (IntentLine(BOOK, 1, PRICE), IntentLine("hackers", 1, 2900), IntentLine("zen", 1, 2500))
    await asyncio.gather(
        ledger.record_checkout(intent("pi_other")),
        ledger.record_checkout(intent("pi_batch")),
        ledger.record_checkout(intent("pi_batch", lines=three, amount=PRICE + 5400)),
    )
    order = await ledger.get("pi_batch")
    assert order is not None
    assert [line.book_id for line in order.lines] == [BOOK, "hackers", "zen"]
    assert order.amount == PRICE + 5400


async def test_failed_attempts_are_counted_then_paid(ledger: Ledger) -> None:
    await ledger.record_checkout(intent())
    declined = state(status="requires_payment_method", decline_code="insufficient_funds")
    for number in (1, 2):
        await ledger.apply_event(
            event(f"evt_fail{number}", "payment_intent.payment_failed", declined, 1_800_000_000)
        )
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.attempts, order.decline_code) == ("failed", 2, "insufficient_funds")

    await ledger.apply_event(event("evt_ok", "payment_intent.succeeded", state(), 1_800_000_001))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.attempts, order.charge_id) == ("paid", 2, "ch_1")


async def test_an_event_id_is_applied_once(ledger: Ledger) -> None:
    await ledger.record_checkout(intent())
    declined = state(status="requires_payment_method", decline_code="card_declined")
    failed = event("evt_once", "payment_intent.payment_failed", declined, 1_800_000_000)

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
    await ledger.record_checkout(intent())
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

    await ledger.record_checkout(intent("pi_cancel"))
    await ledger.apply_state(state("pi_cancel", status="canceled", charge_id=None))
    await ledger.apply_state(state("pi_cancel", status="succeeded"))

    refunded, canceled = await ledger.get("pi_refund"), await ledger.get("pi_cancel")
    assert refunded is not None and canceled is not None
    assert (refunded.status, refunded.amount_refunded) == ("refunded", PRICE)
    assert canceled.status == "canceled"


async def test_a_refund_of_an_order_never_seen_paid_asks_for_a_re_read(ledger: Ledger) -> None:
    # The ledger last heard 5 copies; Stripe charged 2 and the succeeded event was lost.
    await ledger.record_checkout(intent("pi_unheard", quantity=5))
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
    await ledger.record_checkout(intent("pi_a"))
    await ledger.apply_state(state("pi_b", created=1_800_000_000))
    await ledger.record_checkout(intent("pi_c"))
    await ledger.apply_state(state("pi_d", created=1_800_000_100))

    listed = [order.intent_id for order in await ledger.recent()]

    assert listed == ["pi_d", "pi_b", "pi_c", "pi_a"]
