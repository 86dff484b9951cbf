"""Paid orders counted for the back office: takings over a stretch of time and by UTC day
(refunds beside them, not taken off), and the orders waiting on staff; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from bookshop.orders import Ledger
from bookshop.orders.schema import orders
from bookshop.orders.takings import Takings, Waiting, by_day, midnight, paid_between, total, waiting
from tests.orders.intents import ELSEWHERE, HOME, PRICE, intent, paid, refund_event, state

DAY = date(2026, 3, 14)


async def paid_at(ledger: Ledger, intent_id: str, moment: datetime, quantity: int = 1) -> None:
    """An order paid through the ledger, then dated `moment` (the ledger stamps the present)."""
    await ledger.apply_state(paid(intent_id, quantity=quantity, address=HOME))
    await set_columns(ledger, intent_id, paid_at=moment)


async def set_columns(ledger: Ledger, intent_id: str, **values: object) -> None:
    """Set columns of an order directly, as the back office's actions do elsewhere."""
    async with ledger.database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == intent_id).values(values)
        )


async def test_takings_count_orders_paid_in_the_stretch_with_their_refunds_beside(
    ledger: Ledger,
) -> None:
    start = midnight(DAY)
    await paid_at(ledger, "pi_first", start)  # the first moment counts
    await paid_at(ledger, "pi_two", start + timedelta(hours=9), quantity=2)
    await paid_at(ledger, "pi_refunded", start + timedelta(hours=10))
    await ledger.apply_event(refund_event("evt_all", "pi_refunded", PRICE))
    await paid_at(ledger, "pi_part", start + timedelta(hours=11))
    await ledger.apply_event(refund_event("evt_part", "pi_part", PRICE // 4))
    await paid_at(ledger, "pi_before", start - timedelta(microseconds=1))
    await paid_at(ledger, "pi_after", start + timedelta(days=1))  # the end is not included
    await ledger.record_payment(intent("pi_open"))
    await ledger.apply_state(state("pi_canceled", status="canceled"))

    found = await paid_between(ledger.database, start, start + timedelta(days=1))

    assert found == Takings(orders=4, amount=5 * PRICE, refunded=PRICE + PRICE // 4)


async def test_no_paid_orders_take_nothing(ledger: Ledger) -> None:
    await ledger.record_payment(intent("pi_open"))
    assert await paid_between(ledger.database, midnight(DAY), midnight(DAY)) == Takings()
    assert await paid_between(
        ledger.database, midnight(DAY), datetime.now(UTC) + timedelta(days=1)
    ) == Takings(0, 0, 0)


async def test_each_utc_day_is_listed_in_order_with_days_without_orders(ledger: Ledger) -> None:
    first = DAY - timedelta(days=3)
    # Either side of midnight UTC: the last moment of one day, the first of the next.
    await paid_at(ledger, "pi_late", midnight(first) - timedelta(microseconds=1))
    await paid_at(ledger, "pi_first", midnight(first), quantity=3)
    await paid_at(ledger, "pi_night", midnight(DAY) - timedelta(microseconds=1))
    await paid_at(ledger, "pi_morning", midnight(DAY) + timedelta(hours=1))
    await paid_at(ledger, "pi_noon", midnight(DAY) + timedelta(hours=12), quantity=2)
    await ledger.apply_event(refund_event("evt_noon", "pi_noon", PRICE))
    await paid_at(ledger, "pi_tomorrow", midnight(DAY + timedelta(days=1)))

    days = await by_day(ledger.database, first, DAY)

    assert days == [
        (first, Takings(1, 3 * PRICE, 0)),
        (first + timedelta(days=1), Takings()),
        (DAY - timedelta(days=1), Takings(1, PRICE, 0)),
        (DAY, Takings(2, 3 * PRICE, PRICE)),
    ]
    assert total(takings for _, takings in days) == Takings(4, 7 * PRICE, PRICE)


async def test_a_month_without_orders_is_every_day_at_nothing(ledger: Ledger) -> None:
    days = await by_day(ledger.database, date(2026, 2, 1), date(2026, 2, 28))
    assert [day for day, _ in days] == [date(2026, 2, n) for n in range(1, 29)]
    assert {takings for _, takings in days} == {Takings()}


async def test_orders_waiting_are_those_the_orders_pages_to_ship_and_review_lists_hold(
    ledger: Ledger,
) -> None:
    for intent_id in ("pi_ship1", "pi_ship2", "pi_shipped", "pi_restock", "pi_review"):
        await ledger.apply_state(paid(intent_id, address=HOME))
    await ledger.record_payment(intent("pi_open"))
    await ledger.apply_state(paid("pi_refunded", address=HOME))
    await ledger.apply_event(refund_event("evt_all", "pi_refunded", PRICE))
    await set_columns(ledger, "pi_shipped", shipped_at=datetime.now(UTC))
    await set_columns(ledger, "pi_restock", refund_reason="out of stock")
    # Flagged: Stripe's intent ships elsewhere.
    await ledger.apply_state(paid("pi_review", address=ELSEWHERE))

    assert await waiting(ledger.database) == Waiting(to_ship=2, to_review=1)
