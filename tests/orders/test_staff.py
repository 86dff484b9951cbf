"""Staff's actions on the ledger: a refund recorded as Stripe's charge.refunded records it, with
its copies back in stock and its audit entry, once per key; an order marked shipped once, and
only when it may be. Each in one transaction: when a part fails, none of it is written."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from functools import partial

import pytest
from sqlalchemy import update

from bookshop.admin import audit
from bookshop.admin.audit import Actor, Entry
from bookshop.orders import Ledger, Order
from bookshop.orders.schema import OUT_OF_STOCK, orders
from bookshop.orders.staff import (
    NOT_PAID,
    SHIPPED,
    TO_REFUND,
    TO_REVIEW,
    UNKNOWN,
    Audit,
    NotShippable,
    RefundedCopies,
    StaffRefund,
)
from bookshop.payments import Intent
from bookshop.stock import StockLevel
from tests.orders.intents import BOOK, PRICE, paid, state

OWNER = Actor("owner@bookshop.test", "127.0.0.1")
TITLE = BOOK  # the ledger's tests seed no catalog: a line keeps its book's id as its title


def writer(ledger: Ledger, actor: Actor = OWNER) -> Audit:
    """The audit entry's writer, as the back office binds it."""
    return partial(audit.record, database=ledger.database, actor=actor)


def refunded(intent: Intent, amount: int) -> Intent:
    """The intent as Stripe has it once `amount` of its charge was refunded in all."""
    assert intent.charge is not None
    charge = replace(intent.charge, amount_refunded=amount, refunded=amount >= intent.charge.amount)
    return replace(intent, charge=charge)


def copies(count: int, key: str = "key-1", restock: bool = True) -> StaffRefund:
    """A refund of `count` copies of the one book, under `key`."""
    return StaffRefund(
        key=key,
        amount=PRICE * count,
        reason="damaged in the post",
        lines=(RefundedCopies(BOOK, TITLE, count),),
        restock=restock,
    )


async def paid_order(ledger: Ledger, quantity: int = 3, intent_id: str = "pi_staff1") -> Intent:
    """A paid order of `quantity` copies of the counted book (10 on hand before)."""
    await ledger.stock.set(BOOK, 10, "count")
    intent = paid(intent_id, quantity)
    await ledger.record_payment(intent)
    return intent


async def order_of(ledger: Ledger, intent_id: str = "pi_staff1") -> Order:
    order = await ledger.get(intent_id)
    assert order is not None
    return order


async def entries(ledger: Ledger, intent_id: str = "pi_staff1") -> list[Entry]:
    found, _ = await audit.entries(ledger.database, subject=f"order {intent_id}")
    return found


async def test_a_part_refund_moves_the_order_as_charge_refunded_does_and_restocks(
    ledger: Ledger,
) -> None:
    intent = await paid_order(ledger)
    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 7, 0, 3)]

    assert await ledger.refunded(refunded(intent, PRICE), copies(1), writer(ledger))

    order = await order_of(ledger)
    assert (order.status, order.amount_refunded) == ("paid", PRICE)
    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 8, 0, 2)]
    moves = [(move.kind, move.quantity, move.reference) for move in await ledger.stock.moves(BOOK)]
    assert moves[-1] == ("returned", 1, intent.id)
    (entry,) = await entries(ledger)
    assert (entry.actor, entry.action, entry.subject) == (
        OWNER.email,
        "refunded",
        "order pi_staff1",
    )
    assert entry.before == {"status": "paid", "amount_refunded": 0}
    assert entry.after is not None
    assert entry.after["amount"] == PRICE
    assert entry.after["lines"] == [{"book_id": BOOK, "title": TITLE, "copies": 1}]
    assert (entry.after["restocked"], entry.after["reason"]) == (True, "damaged in the post")


async def test_the_whole_amount_refunded_makes_the_order_refunded(ledger: Ledger) -> None:
    intent = await paid_order(ledger)
    await ledger.refunded(refunded(intent, PRICE), copies(1, "key-1"), writer(ledger))

    assert await ledger.refunded(refunded(intent, 3 * PRICE), copies(2, "key-2"), writer(ledger))

    order = await order_of(ledger)
    assert (order.status, order.amount_refunded) == ("refunded", 3 * PRICE)
    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 10, 0, 0)]
    assert len(await entries(ledger)) == 2


async def test_a_key_recorded_before_writes_nothing_again(ledger: Ledger) -> None:
    intent = await paid_order(ledger)
    after = refunded(intent, PRICE)
    assert await ledger.refunded(after, copies(1), writer(ledger))

    assert not await ledger.refunded(after, copies(1), writer(ledger))

    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 8, 0, 2)]
    assert [move.kind for move in await ledger.stock.moves(BOOK)].count("returned") == 1
    assert len(await entries(ledger)) == 1


async def test_the_same_key_at_once_from_two_requests_is_recorded_once(ledger: Ledger) -> None:
    intent = await paid_order(ledger)
    after = refunded(intent, PRICE)

    results = await asyncio.gather(
        *(ledger.refunded(after, copies(1), writer(ledger)) for _ in range(4))
    )

    assert sorted(results) == [False, False, False, True]
    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 8, 0, 2)]
    assert len(await entries(ledger)) == 1


async def test_without_restock_or_for_an_uncounted_book_no_copies_come_back(
    ledger: Ledger,
) -> None:
    intent = await paid_order(ledger)
    await ledger.refunded(refunded(intent, PRICE), copies(1, restock=False), writer(ledger))
    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 7, 0, 3)]

    uncounted = paid("pi_staff2", 1, lines=(replace(intent.lines[0], book_id="uncounted"),))
    await ledger.record_payment(uncounted)
    refund = StaffRefund(
        "key-2", PRICE, "lost", (RefundedCopies("uncounted", "uncounted", 1),), restock=True
    )
    assert await ledger.refunded(refunded(uncounted, PRICE), refund, writer(ledger))
    assert await ledger.stock.levels("uncounted") == []
    assert (await order_of(ledger, "pi_staff2")).status == "refunded"


async def test_when_the_audit_entry_fails_nothing_of_the_refund_is_written(
    ledger: Ledger,
) -> None:
    intent = await paid_order(ledger)

    async def broken(**entry: object) -> bool:
        raise RuntimeError("the audit log's disk is full")

    with pytest.raises(RuntimeError):
        await ledger.refunded(refunded(intent, PRICE), copies(1), broken)

    order = await order_of(ledger)
    assert (order.status, order.amount_refunded) == ("paid", 0)
    assert await ledger.stock.levels(BOOK) == [StockLevel(BOOK, 7, 0, 3)]
    assert await entries(ledger) == []


async def test_mark_shipped_records_carrier_tracking_and_who(ledger: Ledger) -> None:
    await paid_order(ledger)
    packer = Actor("packer@bookshop.test", "10.0.0.7")

    order = await ledger.mark_shipped(
        "pi_staff1", "SingPost", "RR123456789SG", writer(ledger, packer)
    )

    assert order.shipped_at is not None
    assert (order.carrier, order.tracking_number) == ("SingPost", "RR123456789SG")
    assert await order_of(ledger) == order
    (entry,) = await entries(ledger)
    assert (entry.actor, entry.address, entry.action) == (
        packer.email,
        "10.0.0.7",
        "marked shipped",
    )
    assert entry.after is not None
    assert (entry.after["carrier"], entry.after["tracking_number"]) == ("SingPost", "RR123456789SG")


async def test_an_order_is_marked_shipped_once(ledger: Ledger) -> None:
    await paid_order(ledger)
    first = await ledger.mark_shipped("pi_staff1", "SingPost", None, writer(ledger))

    with pytest.raises(NotShippable) as refused:
        await ledger.mark_shipped("pi_staff1", "DHL", "123", writer(ledger))

    assert refused.value.why == SHIPPED
    assert await order_of(ledger) == first
    assert len(await entries(ledger)) == 1


async def test_two_staff_marking_one_order_at_once_ship_it_once(ledger: Ledger) -> None:
    await paid_order(ledger)

    async def press(carrier: str) -> str:
        try:
            await ledger.mark_shipped("pi_staff1", carrier, None, writer(ledger))
        except NotShippable as refused:
            return refused.why
        return "marked"

    results = await asyncio.gather(*(press(f"Carrier {n}") for n in range(4)))

    assert sorted(results) == ["marked", SHIPPED, SHIPPED, SHIPPED]
    assert len(await entries(ledger)) == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"review": "address changed at Stripe"}, TO_REVIEW),
        ({"refund_reason": OUT_OF_STOCK}, TO_REFUND),
        ({"status": "refunded"}, NOT_PAID),
    ],
)
async def test_an_order_staff_must_not_ship_is_refused_and_left_as_it_was(
    ledger: Ledger, change: dict[str, str], why: str
) -> None:
    await paid_order(ledger)
    async with ledger.database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == "pi_staff1").values(**change)
        )
    before = await order_of(ledger)

    with pytest.raises(NotShippable) as refused:
        await ledger.mark_shipped("pi_staff1", "SingPost", None, writer(ledger))

    assert refused.value.why == why
    assert await order_of(ledger) == before
    assert await entries(ledger) == []


async def test_an_unpaid_or_unknown_order_is_not_shipped(ledger: Ledger) -> None:
    await ledger.record_payment(state("pi_open", status="requires_action"))

    with pytest.raises(NotShippable) as unpaid:
        await ledger.mark_shipped("pi_open", "SingPost", None, writer(ledger))
    with pytest.raises(NotShippable) as unknown:
        await ledger.mark_shipped("pi_nobody", "SingPost", None, writer(ledger))

    assert (unpaid.value.why, unknown.value.why) == (NOT_PAID, UNKNOWN)
    assert (await order_of(ledger, "pi_open")).shipped_at is None


async def test_when_the_audit_entry_fails_the_order_is_not_shipped(ledger: Ledger) -> None:
    await paid_order(ledger)

    async def broken(**entry: object) -> bool:
        raise RuntimeError("the audit log's disk is full")

    with pytest.raises(RuntimeError):
        await ledger.mark_shipped("pi_staff1", "SingPost", None, broken)

    assert (await order_of(ledger)).shipped_at is None
