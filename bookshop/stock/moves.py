"""The record of every stock move: a `stock_moves` row for each change to a book's count, with the
stock as the change left it, written in the change's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.stock.records import StockLevel
from bookshop.stock.schema import book_stock, stock_moves

# What an update of a book's stock hands back for its move's record.
LEVEL = (book_stock.c.book_id, book_stock.c.on_hand, book_stock.c.reserved)


def now() -> datetime:
    """The time a change is stamped with."""
    return datetime.now(UTC)


def move_row(level: Any, kind: str, quantity: int, reference: str) -> dict[str, Any]:
    """A `stock_moves` row: the change, and the stock as it left it (an update's RETURNING)."""
    return {
        "book_id": level.book_id,
        "kind": kind,
        "quantity": quantity,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "reference": reference[:255],
        "at": now(),
    }


async def record(connection: AsyncConnection, moves: list[dict[str, Any]]) -> None:
    """Write a change's moves, in one statement."""
    if moves:
        await connection.execute(insert(stock_moves), moves)


async def level_of(
    connection: AsyncConnection, book_id: str, *, lock: bool = False
) -> StockLevel | None:
    """A book's stock as this transaction sees it (locked for a change, when asked); None for a
    book the shop does not count."""
    query = select(book_stock).where(book_stock.c.book_id == book_id)
    row = (await connection.execute(query.with_for_update() if lock else query)).first()
    return StockLevel(row.book_id, row.on_hand, row.reserved, row.sold) if row else None


async def moved(
    connection: AsyncConnection, book_id: str, kind: str, quantity: int, reference: str
) -> StockLevel:
    """Record one move of a counted book, with the stock as it left it; that stock."""
    level = await level_of(connection, book_id)
    assert level is not None
    await record(connection, [move_row(level, kind, quantity, reference)])
    return level
