"""Paid orders counted for the back office: what they took by day or over any stretch of time,
and how many wait on staff.

Takings are what paid orders charged (delivery included), counted on the UTC day they were paid,
before refunds; what has been refunded of those orders since is counted beside them. An order
refunded in full was paid first, so it is counted too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from bookshop.database import Database
from bookshop.orders.listing import NEEDS_REVIEW, TO_SHIP, matching
from bookshop.orders.schema import SETTLED, orders


@dataclass(frozen=True)
class Takings:
    """Paid orders: how many, what they charged, and how much of that was refunded since."""

    orders: int = 0
    amount: int = 0
    refunded: int = 0

    def __add__(self, other: Takings) -> Takings:
        """Both counted together."""
        return Takings(
            self.orders + other.orders,
            self.amount + other.amount,
            self.refunded + other.refunded,
        )


@dataclass(frozen=True)
class Waiting:
    """Orders staff must act on: paid ones to pack and ship, and flagged ones to look at."""

    to_ship: int
    to_review: int


def midnight(day: date) -> datetime:
    """The moment a UTC day starts."""
    return datetime.combine(day, time(), tzinfo=UTC)


async def paid_between(database: Database, start: datetime, end: datetime) -> Takings:
    """The takings of orders paid from `start` up to (not including) `end`."""
    query = select(
        func.count(), func.sum(orders.c.amount), func.sum(orders.c.amount_refunded)
    ).where(_paid_from(start, end))
    async with database.reading() as connection:
        count, amount, refunded = (await connection.execute(query)).one()
    return Takings(int(count), int(amount or 0), int(refunded or 0))


async def by_day(database: Database, first: date, last: date) -> list[tuple[date, Takings]]:
    """Each UTC day's takings from `first` to `last` (both included), in order, days without
    a paid order among them."""
    day = _utc_day(database)
    query = (
        select(
            day,
            func.count(),
            func.sum(orders.c.amount),
            func.sum(orders.c.amount_refunded),
        )
        .where(_paid_from(midnight(first), midnight(last + timedelta(days=1))))
        .group_by(day)
    )
    async with database.reading() as connection:
        rows = (await connection.execute(query)).all()
    found = {
        paid: Takings(int(count), int(amount), int(refunded))
        for paid, count, amount, refunded in rows
    }
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [(each, found.get(each, Takings())) for each in days]


async def waiting(database: Database) -> Waiting:
    """How many paid orders wait to be shipped, and how many orders to be looked at, as the
    orders page's filters list them (so the home page's numbers match the lists it links to)."""
    shipping, reviewing = matching(TO_SHIP), matching(NEEDS_REVIEW)
    query = select(func.count().filter(shipping), func.count().filter(reviewing)).where(
        shipping | reviewing
    )
    async with database.reading() as connection:
        to_ship, to_review = (await connection.execute(query)).one()
    return Waiting(int(to_ship), int(to_review))


def total(takings: Iterable[Takings]) -> Takings:
    """Takings added up."""
    return sum(takings, Takings())


def _paid_from(start: datetime, end: datetime) -> ColumnElement[bool]:
    return orders.c.status.in_(SETTLED) & (orders.c.paid_at >= start) & (orders.c.paid_at < end)


def _utc_day(database: Database) -> ColumnElement[date]:
    # The UTC day an order was paid on: SQLite keeps the ledger's UTC times as text, whose
    # date() is that day (read back as a date by the Date type).
    if database.dialect == "postgresql":
        return cast(func.timezone("UTC", orders.c.paid_at), Date)
    return func.date(orders.c.paid_at, type_=Date)
