"""The ledger as the back office reads it: orders filtered by status, searched, a page at a time
(or all of them, for an export), and the Stripe events recorded for one order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from bookshop.database import Database
from bookshop.orders.numbers import normalise
from bookshop.orders.schema import (
    CANCELED,
    PAID,
    PAYABLE,
    REFUNDED,
    Order,
    OrderLine,
    order_lines,
    orders,
    webhook_events,
)

PER_PAGE = 50
# An export holds at most this many orders, the newest: enough for any bookshop's spreadsheet,
# and a bound on what one request holds in memory.
EXPORT_LIMIT = 10_000
MAX_SEARCH_LENGTH = 254  # the longest email address
LINES_BATCH = 500

ALL, TO_SHIP, SHIPPED, REFUNDED_ANY = "all", "to-ship", "shipped", "refunded"
NEEDS_REVIEW, AWAITING_PAYMENT, CANCELED_ONLY = "needs-review", "awaiting-payment", "canceled"
# The status filters, by the value a URL gives, with what staff read.
FILTERS = {
    ALL: "All",
    TO_SHIP: "To ship",
    SHIPPED: "Shipped",
    REFUNDED_ANY: "Refunded",
    NEEDS_REVIEW: "Needs review",
    AWAITING_PAYMENT: "Awaiting payment",
    CANCELED_ONLY: "Canceled",
}
INTENT_ID = re.compile(r"^pi_[A-Za-z0-9]{1,64}$")


@dataclass(frozen=True)
class Criteria:
    """Which orders a list shows: a status filter (a key of FILTERS) and a search (an email or
    part of one, an order number, or a PaymentIntent's id)."""

    status: str = ALL
    search: str = ""


@dataclass(frozen=True)
class OrdersPage:
    """One page of the orders matching some criteria, newest first."""

    orders: list[Order]
    number: int
    per_page: int
    total: int  # how many orders match, on all pages

    @property
    def pages(self) -> int:
        """How many pages the matching orders fill (1 when none match)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        """True when a later page has orders."""
        return self.number * self.per_page < self.total

    @property
    def first(self) -> int:
        """The position of this page's first order among all that match (from 1)."""
        return (self.number - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        """The position of this page's last order among all that match."""
        return self.first + len(self.orders) - 1


@dataclass(frozen=True)
class RecordedEvent:
    """A Stripe webhook event the ledger recorded for an order: what it was and when it came."""

    id: str
    type: str
    received_at: datetime


def to_ship(order: Order) -> bool:
    """True for a paid order waiting to leave: not shipped, not flagged for review, not to be
    refunded by the shop (the TO_SHIP filter's condition, for one order in hand)."""
    return (
        order.status == PAID
        and order.shipped_at is None
        and order.review is None
        and order.refund_reason is None
    )


async def page(
    database: Database, criteria: Criteria, number: int = 1, per_page: int = PER_PAGE
) -> OrdersPage:
    """Page `number` (from 1) of the orders matching `criteria`, newest first, with how many
    match in all."""
    matching = _matching(criteria)
    count = select(func.count()).select_from(orders).where(matching)
    async with database.reading() as connection:
        total = int(await connection.scalar(count) or 0)
        found = await _orders(connection, matching, per_page, (number - 1) * per_page)
    return OrdersPage(found, number, per_page, total)


async def every(database: Database, criteria: Criteria, limit: int = EXPORT_LIMIT) -> list[Order]:
    """The orders matching `criteria`, newest first, at most `limit` of them."""
    async with database.reading() as connection:
        return await _orders(connection, _matching(criteria), limit, 0)


async def events_of(database: Database, intent_id: str) -> list[RecordedEvent]:
    """The webhook events recorded for an order's PaymentIntent, oldest first."""
    query = (
        select(webhook_events.c.id, webhook_events.c.type, webhook_events.c.received_at)
        .where(webhook_events.c.intent_id == intent_id)
        .order_by(webhook_events.c.received_at, webhook_events.c.id)
    )
    async with database.reading() as connection:
        rows = (await connection.execute(query)).all()
    return [RecordedEvent(row.id, row.type, _aware(row.received_at)) for row in rows]


def _matching(criteria: Criteria) -> ColumnElement[bool]:
    condition = matching(criteria.status)
    if criteria.search:
        condition = and_(condition, _search(criteria.search))
    return condition


def matching(status: str) -> ColumnElement[bool]:
    """The orders a status filter lists (the home page counts them alike); KeyError for a
    filter FILTERS does not name (the view refuses those first)."""
    return {
        ALL: true(),
        TO_SHIP: and_(
            orders.c.status == PAID,
            orders.c.shipped_at.is_(None),
            orders.c.review.is_(None),
            orders.c.refund_reason.is_(None),
        ),
        SHIPPED: orders.c.shipped_at.is_not(None),
        REFUNDED_ANY: or_(orders.c.status == REFUNDED, orders.c.amount_refunded > 0),
        NEEDS_REVIEW: orders.c.review.is_not(None),
        AWAITING_PAYMENT: orders.c.status.in_(PAYABLE),
        CANCELED_ONLY: orders.c.status == CANCELED,
    }[status]


def _search(text: str) -> ColumnElement[bool]:
    # What a search finds, in one place: a PaymentIntent by its exact id; an order by its number
    # however it was typed ("bk 7q4m2x"); else the orders whose email holds the text, whatever
    # its case (a word such as "reader" reads as a number too, so both are looked for).
    if INTENT_ID.match(text):
        return orders.c.intent_id == text
    by_email = func.lower(orders.c.email).contains(text.lower(), autoescape=True)
    number = normalise(text)
    return by_email if number is None else or_(orders.c.number == number, by_email)


def _newest(query: Select[Any]) -> Select[Any]:
    # The intent id breaks ties, so pages never overlap or skip an order.
    return query.order_by(orders.c.created_at.desc(), orders.c.intent_id.desc())


async def _orders(
    connection: AsyncConnection, matching: ColumnElement[bool], limit: int, offset: int
) -> list[Order]:
    chosen = _newest(select(orders).where(matching)).limit(limit).offset(offset)
    rows = (await connection.execute(chosen)).all()
    ids = [row.intent_id for row in rows]
    found: dict[str, list[OrderLine]] = {}
    # In batches: an export's thousands of ids would be as many bound parameters in one query.
    for start in range(0, len(ids), LINES_BATCH):
        lines = select(order_lines).where(
            order_lines.c.intent_id.in_(ids[start : start + LINES_BATCH])
        )
        for line in await connection.execute(
            lines.order_by(order_lines.c.intent_id, order_lines.c.position)
        ):
            found.setdefault(line.intent_id, []).append(
                OrderLine(line.book_id, line.title, line.unit_price, line.quantity)
            )
    return [Order.from_row(row, tuple(found.get(row.intent_id, ()))) for row in rows]


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the ledger only ever writes UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
