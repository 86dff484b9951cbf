"""The back office's home page: today's and this month's takings, what waits on staff, the
books running low, and the last 30 days as a chart with a table of the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quart import Response

from bookshop.admin.blueprint import blueprint
from bookshop.admin.chart import busiest, chart
from bookshop.admin.schema import STAFF
from bookshop.catalog import catalog
from bookshop.orders import ledger
from bookshop.orders.takings import by_day, midnight, paid_between, total, waiting
from bookshop.pages import render
from bookshop.security import policy
from bookshop.stock import stock
from bookshop.stock.availability import FEW_LEFT

DAYS_CHARTED = 30


@dataclass(frozen=True)
class RunningLow:
    """A counted book with few copies left to sell (or none); its title, None when the catalog
    no longer has it."""

    book_id: str
    title: str | None
    left: int


def now() -> datetime:
    """The moment whose UTC day and month the page shows."""
    return datetime.now(UTC)


@blueprint.get("")
@policy(private=True, role=STAFF)
async def home() -> Response:
    """Today at a glance: days and months are UTC's (the shop has no time zone setting)."""
    database = ledger().database
    today = now().date()
    days = await by_day(database, today - timedelta(days=DAYS_CHARTED - 1), today)
    month = await paid_between(
        database, midnight(today.replace(day=1)), midnight(today + timedelta(days=1))
    )
    return await render(
        "admin/home.html",
        today=days[-1][1],
        month=month,
        month_name=f"{today:%B %Y}",
        waiting=await waiting(database),
        running_low=await running_low(),
        few_left=FEW_LEFT,
        days=days,
        days_total=total(takings for _, takings in days),
        busiest=busiest(days),
        chart=chart(days),
    )


async def running_low() -> list[RunningLow]:
    """The counted books with FEW_LEFT copies or fewer left to sell, fewest first."""
    low = [level for level in await stock().levels() if level.available <= FEW_LEFT]
    # Retired books are not for sale: none of them runs low.
    books = await catalog().entries(level.book_id for level in low)
    low = [level for level in low if not (level.book_id in books and books[level.book_id].retired)]
    found = [
        RunningLow(
            level.book_id,
            books[level.book_id].book.title if level.book_id in books else None,
            level.available,
        )
        for level in low
    ]
    return sorted(found, key=lambda book: (book.left, book.title or "", book.book_id))
