"""The back office's reads of the ledger: each status filter, searches by email, order number and
payment id, newest first a page at a time, exports, and the Stripe events recorded for an order;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bookshop.orders import Ledger, Order
from bookshop.orders.listing import (
    ALL,
    AWAITING_PAYMENT,
    CANCELED_ONLY,
    FILTERS,
    NEEDS_REVIEW,
    REFUNDED_ANY,
    SHIPPED,
    TO_SHIP,
    Criteria,
    events_of,
    every,
    page,
    to_ship,
)
from bookshop.orders.schema import orders
from tests.orders.intents import ELSEWHERE, HOME, PRICE, event, intent, paid, refund_event, state

START = 1_800_000_000


async def placed(
    ledger: Ledger, intent_id: str, *, minute: int = 0, email: str = "ada@example.com"
) -> None:
    """An open order the pay step wrote, created `minute` minutes after START."""
    await ledger.record_payment(
        intent(intent_id, created=START + 60 * minute, email=email, address=HOME)
    )


async def change(ledger: Ledger, intent_id: str, **values: object) -> None:
    """Set columns no transition of the ledger's sets (shipping, the shop's own refund reason):
    the back office's actions do, elsewhere."""
    async with ledger.database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == intent_id).values(values)
        )


def email_of(intent_id: str) -> str:
    """The shopper's email of an order of `every_kind`: its id's name at example.com."""
    return f"{intent_id[3:]}@example.com"


@pytest.fixture
async def every_kind(ledger: Ledger) -> Ledger:
    """One order in each state the filters tell apart, a minute apart, oldest first."""
    kinds = [
        "pi_open",
        "pi_failed",
        "pi_canceled",
        "pi_paid",
        "pi_part",
        "pi_refunded",
        "pi_review",
        "pi_shipped",
        "pi_restock",
    ]
    for minute, intent_id in enumerate(kinds):
        await placed(ledger, intent_id, minute=minute, email=email_of(intent_id))
    await ledger.apply_state(
        state(
            "pi_failed",
            status="requires_payment_method",
            decline_code="card_declined",
            email=email_of("pi_failed"),
        )
    )
    await ledger.apply_state(state("pi_canceled", status="canceled", email=email_of("pi_canceled")))
    for intent_id in kinds[3:]:
        await ledger.apply_state(paid(intent_id, address=HOME, email=email_of(intent_id)))
    await ledger.apply_event(refund_event("evt_part", "pi_part", PRICE // 2))
    await ledger.apply_event(refund_event("evt_all", "pi_refunded", PRICE))
    # Flagged: Stripe's intent ships elsewhere.
    await ledger.apply_state(paid("pi_review", address=ELSEWHERE, email=email_of("pi_review")))
    await change(
        ledger,
        "pi_shipped",
        shipped_at=datetime.now(UTC),
        carrier="SingPost",
        tracking_number="RR123456789SG",
    )
    await change(ledger, "pi_restock", refund_reason="out of stock")
    return ledger


def ids(found: list[Order]) -> list[str]:
    """The orders' payment ids, in order."""
    return [order.intent_id for order in found]


# What each filter finds among `every_kind`'s orders, newest first.
FOUND = {
    ALL: ["restock", "shipped", "review", "refunded", "part", "paid", "canceled", "failed", "open"],
    TO_SHIP: ["part", "paid"],
    SHIPPED: ["shipped"],
    REFUNDED_ANY: ["refunded", "part"],
    NEEDS_REVIEW: ["review"],
    AWAITING_PAYMENT: ["failed", "open"],
    CANCELED_ONLY: ["canceled"],
}


async def test_each_status_filter_finds_its_orders_newest_first(every_kind: Ledger) -> None:
    assert set(FOUND) == set(FILTERS)
    for status, expected in FOUND.items():
        found = await page(every_kind.database, Criteria(status))

        assert ids(found.orders) == [f"pi_{name}" for name in expected], status
        assert found.total == len(expected) and not found.has_next, status


async def test_to_ship_says_of_one_order_what_the_filter_says_of_all(every_kind: Ledger) -> None:
    everything = await page(every_kind.database, Criteria())
    waiting = await page(every_kind.database, Criteria(TO_SHIP))

    assert [order for order in everything.orders if to_ship(order)] == waiting.orders


async def test_a_page_carries_each_orders_lines(every_kind: Ledger) -> None:
    found = await page(every_kind.database, Criteria(search="pi_paid"))

    (order,) = found.orders
    assert [(line.book_id, line.quantity, line.unit_price) for line in order.lines] == [
        ("code", 1, PRICE)
    ]


async def test_a_search_finds_an_email_by_any_part_whatever_its_case(every_kind: Ledger) -> None:
    for search in ["shipped@example.com", "SHIPPED@Example.COM", "shipp", "ped@ex"]:
        found = await page(every_kind.database, Criteria(search=search))

        assert ids(found.orders) == ["pi_shipped"], search


async def test_a_search_is_narrowed_by_the_status_filter(every_kind: Ledger) -> None:
    everyone = await page(every_kind.database, Criteria(search="example.com"))
    to_send = await page(every_kind.database, Criteria(TO_SHIP, "example.com"))

    assert everyone.total == 9
    assert ids(to_send.orders) == ["pi_part", "pi_paid"]


async def test_a_payment_id_finds_exactly_its_order(every_kind: Ledger) -> None:
    assert ids((await page(every_kind.database, Criteria(search="pi_paid"))).orders) == ["pi_paid"]
    # Not a prefix: "pi_pa" is no order's id, and no email holds it.
    assert (await page(every_kind.database, Criteria(search="pi_pa"))).total == 0


async def test_an_order_number_finds_its_order_however_it_was_typed(every_kind: Ledger) -> None:
    order = await every_kind.get("pi_paid")
    assert order is not None
    code = order.number.removeprefix("BK-")
    for search in [order.number, f"bk {code.lower()}", code, f"BK{code[:3]}-{code[3:]}"]:
        found = await page(every_kind.database, Criteria(search=search))

        assert ids(found.orders) == ["pi_paid"], search
    # Not a prefix: part of a number is no number, and no email holds it.
    assert (await page(every_kind.database, Criteria(search=order.number[:-1]))).total == 0


async def test_a_search_that_reads_as_a_number_still_finds_emails(ledger: Ledger) -> None:
    # "reader" is six characters of the numbers' alphabet: a number, and a part of an email.
    await placed(ledger, "pi_reader", email="reader@example.com")
    await placed(ledger, "pi_other", email="other@example.com")

    found = await page(ledger.database, Criteria(search="reader"))

    assert ids(found.orders) == ["pi_reader"]


async def test_a_search_takes_like_wildcards_as_the_characters_they_are(ledger: Ledger) -> None:
    await placed(ledger, "pi_one", email="ada@example.com")

    for search in ["%", "_", "a_a", "a%a", "\\"]:
        assert (await page(ledger.database, Criteria(search=search))).total == 0, search


async def test_pages_are_50_orders_newest_first_without_overlap(ledger: Ledger) -> None:
    for number in range(53):
        await placed(ledger, f"pi_{number:03d}", minute=number)

    first = await page(ledger.database, Criteria())
    second = await page(ledger.database, Criteria(), 2)

    assert len(first.orders) == 50 and first.has_next and first.pages == 2
    assert ids(first.orders)[:2] == ["pi_052", "pi_051"]
    assert ids(second.orders) == ["pi_002", "pi_001", "pi_000"] and not second.has_next
    assert (second.first, second.last, second.total) == (51, 53, 53)


async def test_orders_made_in_the_same_second_keep_one_order_across_pages(ledger: Ledger) -> None:
    for number in range(5):
        await placed(ledger, f"pi_same{number}")

    pages = [await page(ledger.database, Criteria(), number, per_page=2) for number in (1, 2, 3)]

    assert [ids(found.orders) for found in pages] == [
        ["pi_same4", "pi_same3"],
        ["pi_same2", "pi_same1"],
        ["pi_same0"],
    ]


async def test_no_orders_is_one_empty_page(ledger: Ledger) -> None:
    found = await page(ledger.database, Criteria())

    assert (found.orders, found.total, found.pages, found.has_next) == ([], 0, 1, False)


async def test_an_export_holds_every_page_up_to_its_limit(ledger: Ledger) -> None:
    for number in range(60):
        await placed(ledger, f"pi_{number:03d}", minute=number)

    everything = await every(ledger.database, Criteria())
    capped = await every(ledger.database, Criteria(), limit=7)

    assert len(everything) == 60 and ids(everything)[0] == "pi_059"
    assert all(order.lines for order in everything)
    assert ids(capped) == [f"pi_{number:03d}" for number in range(59, 52, -1)]


async def test_an_orders_recorded_events_come_oldest_first(ledger: Ledger) -> None:
    await placed(ledger, "pi_one")
    await placed(ledger, "pi_two")
    await ledger.apply_event(event("evt_1", "payment_intent.succeeded", paid("pi_one"), START + 5))
    await ledger.apply_event(event("evt_2", "payment_intent.succeeded", paid("pi_two"), START + 6))
    await ledger.apply_event(refund_event("evt_3", "pi_one", PRICE, START + 7))

    found = await events_of(ledger.database, "pi_one")

    assert [(seen.id, seen.type) for seen in found] == [
        ("evt_1", "payment_intent.succeeded"),
        ("evt_3", "charge.refunded"),
    ]
    assert found[0].received_at.tzinfo is not None
    assert found[0].received_at <= found[1].received_at <= datetime.now(UTC) + timedelta(seconds=1)
