"""Stock in the database: what is left to sell, a checkout's reservation while it pays, the sale
or release of it (each exactly once), and a record of every move.

Every change is a conditional update, so no count goes below zero whatever runs at the same time
(other shoppers, other shop processes, webhooks). A book without a `stock` row is not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from cachetools import TTLCache
from quart import current_app
from sqlalchemy import ColumnElement, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.database import Database
from bookshop.stock.moves import LEVEL, level_of, move_row, moved, now, record
from bookshop.stock.records import Changed, Hold, Short, StockError, StockLevel, StockMove
from bookshop.stock.schema import (
    DELIVERY,
    HELD,
    RELEASE,
    RELEASED,
    RESERVED,
    RETURN,
    SALE,
    SET,
    SOLD,
    book_stock,
    reservations,
    stock_moves,
)

# What shoppers see of stock may be this old (each process keeps what it read); reserving and
# selling always read the database.
CACHE_SECONDS = 0.5
UNCACHED = object()  # what the cache gives for a book it holds nothing of
CACHE_ENTRIES = 4096


class Stock:
    """Stock, reservations and moves in the shop's database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # book id -> copies left, or None for a book the shop does not count.
        self._left: TTLCache[str, int | None] = TTLCache(CACHE_ENTRIES, CACHE_SECONDS)

    async def left(self, book_ids: Iterable[str]) -> dict[str, int]:
        """How many copies of each counted book a shopper can buy; uncounted books are absent."""
        wanted = list(dict.fromkeys(book_ids))
        known: dict[str, int | None] = {}
        for book_id in wanted:
            # One get (it reads the cache's clock once): `in` then `[]` could see an entry
            # expire between the two and raise KeyError.
            cached = self._left.get(book_id, UNCACHED)
            if cached is not UNCACHED:
                known[book_id] = cast(int | None, cached)
        missing = [book_id for book_id in wanted if book_id not in known]
        if missing:
            query = select(
                book_stock.c.book_id, book_stock.c.on_hand - book_stock.c.reserved
            ).where(book_stock.c.book_id.in_(missing))
            async with self.database.one_statement() as connection:
                found = {book_id: left for book_id, left in await connection.execute(query)}
            for book_id in missing:
                known[book_id] = self._left[book_id] = found.get(book_id)
        return {book_id: left for book_id, left in known.items() if left is not None}

    async def held(self, checkout_id: str, book_ids: Iterable[str]) -> dict[str, int]:
        """The copies of these books a checkout holds while its payment runs, by book."""
        query = (
            select(reservations.c.book_id, func.sum(reservations.c.quantity))
            .where(
                reservations.c.checkout_id == checkout_id,
                reservations.c.status == HELD,
                reservations.c.book_id.in_(list(book_ids)),
            )
            .group_by(reservations.c.book_id)
        )
        async with self.database.reading() as connection:
            return {book_id: int(copies) for book_id, copies in await connection.execute(query)}

    async def levels(self, book_id: str | None = None) -> list[StockLevel]:
        """Every counted book's stock (or one book's), by book id."""
        query = select(book_stock).order_by(book_stock.c.book_id)
        if book_id is not None:
            query = query.where(book_stock.c.book_id == book_id)
        async with self.database.reading() as connection:
            rows = (await connection.execute(query)).all()
        return [StockLevel(row.book_id, row.on_hand, row.reserved, row.sold) for row in rows]

    async def moves(self, book_id: str) -> list[StockMove]:
        """A book's moves, oldest first."""
        query = (
            select(stock_moves).where(stock_moves.c.book_id == book_id).order_by(stock_moves.c.id)
        )
        async with self.database.reading() as connection:
            rows = (await connection.execute(query)).all()
        return [
            StockMove(
                row.book_id,
                row.kind,
                row.quantity,
                row.on_hand,
                row.reserved,
                row.reference,
                _aware(row.at),
            )
            for row in rows
        ]

    async def set(self, book_id: str, on_hand: int, reference: str) -> StockLevel:
        """Count a book's copies on hand (reserved ones included): the shop starts limiting it."""
        async with self.database.transaction() as connection:
            changed = await self.set_in(connection, book_id, on_hand, reference)
        # Again once committed: a shopper's read in between may have kept the old count.
        self._left.clear()
        return changed.after

    async def set_in(
        self, connection: AsyncConnection, book_id: str, on_hand: int, reference: str
    ) -> Changed:
        """`set`, in the caller's transaction (the back office writes its audit entry in it)."""
        if on_hand < 0:
            raise StockError("A book can't have fewer than 0 copies.")
        # Locked (PostgreSQL), so no checkout reserves more between this check and the update.
        before = await level_of(connection, book_id, lock=True)
        if before is not None and on_hand < before.reserved:
            raise StockError(
                f"{before.reserved} copies of {book_id} are reserved by checkouts paying now: "
                f"count at least that many."
            )
        if before is None:
            await connection.execute(
                insert(book_stock).values(
                    book_id=book_id, on_hand=on_hand, reserved=0, sold=0, updated_at=now()
                )
            )
        else:
            await connection.execute(
                update(book_stock)
                .where(book_stock.c.book_id == book_id)
                .values(on_hand=on_hand, updated_at=now())
            )
        difference = on_hand - (before.on_hand if before else 0)
        after = await moved(connection, book_id, SET, difference, reference)
        self._left.clear()
        return Changed(before, after)

    async def add(self, book_id: str, copies: int, reference: str) -> StockLevel:
        """A delivery: more copies on hand (a book not counted yet starts at these)."""
        async with self.database.transaction() as connection:
            changed = await self.add_in(connection, book_id, copies, reference)
        self._left.clear()
        return changed.after

    async def add_in(
        self, connection: AsyncConnection, book_id: str, copies: int, reference: str
    ) -> Changed:
        """`add`, in the caller's transaction (the back office writes its audit entry in it)."""
        if copies < 1:
            raise StockError("A delivery brings at least 1 copy.")
        before = await level_of(connection, book_id, lock=True)
        await connection.execute(
            self.database.insert(book_stock)
            .values(book_id=book_id, on_hand=copies, reserved=0, sold=0, updated_at=now())
            .on_conflict_do_update(
                index_elements=[book_stock.c.book_id],
                set_={"on_hand": book_stock.c.on_hand + copies, "updated_at": now()},
            )
        )
        after = await moved(connection, book_id, DELIVERY, copies, reference)
        self._left.clear()
        return Changed(before, after)

    async def reserve(
        self, checkout_id: str, lines: Sequence[tuple[str, int]], expires_at: datetime
    ) -> None:
        """Hold each line's copies for this checkout, all or none: a checkout paying again
        gives back what it held first. Raises `Short` (and holds nothing) when a line asks for
        more than is left."""
        wanted = _summed(lines)
        short: dict[str, int] = {}
        held: list[dict[str, Any]] = []
        async with self.database.transaction() as connection:
            moves = await self._release(
                connection, reservations.c.checkout_id == checkout_id, checkout_id
            )
            counted = set(
                await connection.scalars(
                    select(book_stock.c.book_id).where(book_stock.c.book_id.in_(list(wanted)))
                )
            )
            # Books in one order, so two checkouts never wait on each other's rows (PostgreSQL).
            for book_id in sorted(counted):
                quantity = wanted[book_id]
                taken = (
                    await connection.execute(
                        update(book_stock)
                        .where(
                            book_stock.c.book_id == book_id,
                            book_stock.c.on_hand - book_stock.c.reserved >= quantity,
                        )
                        .values(reserved=book_stock.c.reserved + quantity, updated_at=now())
                        .returning(*LEVEL)
                    )
                ).first()
                if taken is None:
                    left = await connection.scalar(
                        select(book_stock.c.on_hand - book_stock.c.reserved).where(
                            book_stock.c.book_id == book_id
                        )
                    )
                    short[book_id] = left or 0
                    continue
                stamp = now()
                held.append(
                    {
                        "checkout_id": checkout_id,
                        "book_id": book_id,
                        "quantity": quantity,
                        "status": HELD,
                        "expires_at": expires_at,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                moves.append(move_row(taken, RESERVED, quantity, checkout_id))
            if short:
                raise Short(short)  # leaving the transaction undoes every line's hold
            if held:
                await connection.execute(insert(reservations), held)
            await record(connection, moves)
        self._left.clear()

    async def attach(self, checkout_id: str, intent_id: str) -> None:
        """The intent paying for a checkout's held copies: expiry cancels it before releasing."""
        async with self.database.one_statement() as connection:
            await connection.execute(
                update(reservations)
                .where(reservations.c.checkout_id == checkout_id, reservations.c.status == HELD)
                .values(intent_id=intent_id, updated_at=now())
            )

    async def release(
        self, reference: str, *, checkout_id: str | None = None, intent_id: str | None = None
    ) -> int:
        """Give back held copies: those of a payment (by its intent), or those of a checkout that
        no payment is known to hold yet. How many went back."""
        if intent_id is not None:
            which = reservations.c.intent_id == intent_id
        else:
            which = (reservations.c.checkout_id == checkout_id) & reservations.c.intent_id.is_(None)
        async with self.database.transaction() as connection:
            moves = await self._release(connection, which, reference)
            await record(connection, moves)
        self._left.clear()
        return sum(move["quantity"] for move in moves)

    async def release_in(self, connection: AsyncConnection, intent_id: str) -> int:
        """Give back the copies held for this payment, in the caller's transaction."""
        moves = await self._release(connection, reservations.c.intent_id == intent_id, intent_id)
        await record(connection, moves)
        self._left.clear()
        return sum(move["quantity"] for move in moves)

    async def sell(
        self,
        connection: AsyncConnection,
        checkout_id: str | None,
        intent_id: str,
        lines: Sequence[tuple[str, int]],
    ) -> bool:
        """A payment succeeded: its lines' copies leave the shop, from its reservation or (when
        that lapsed) from what is left. False, and nothing sold, when a line's copies are gone:
        the payment must be refunded. Runs in the caller's transaction, once per paid order."""
        converted = (
            await connection.execute(
                update(reservations)
                .where(reservations.c.status == HELD, _paying(checkout_id, intent_id))
                .values(status=SOLD, intent_id=intent_id, updated_at=now())
                .returning(reservations.c.id, reservations.c.book_id, reservations.c.quantity)
            )
        ).all()
        held: Counter[str] = Counter()
        for row in converted:
            held[row.book_id] += row.quantity
        wanted = _summed(lines)
        counted = {
            row.book_id: row
            for row in await connection.execute(
                select(book_stock)
                .where(book_stock.c.book_id.in_(sorted(set(held) | set(wanted))))
                .order_by(book_stock.c.book_id)
                .with_for_update()
            )
        }
        enough = all(
            row.on_hand - row.reserved + held[book_id] >= wanted[book_id]
            for book_id, row in counted.items()
        )
        if not enough:
            # Sold nothing: the held copies go back on sale, and the payment is refunded.
            ids = [row.id for row in converted]
            await connection.execute(
                update(reservations)
                .where(reservations.c.id.in_(ids))
                .values(status=RELEASED, updated_at=now())
            )
            await record(connection, await self._give_back(connection, held, intent_id))
            self._left.clear()
            return False
        moves = []
        for book_id in sorted(counted):
            quantity, had = wanted[book_id], held[book_id]
            level = (
                await connection.execute(
                    update(book_stock)
                    .where(
                        book_stock.c.book_id == book_id,
                        book_stock.c.on_hand - book_stock.c.reserved + had >= quantity,
                    )
                    .values(
                        reserved=book_stock.c.reserved - had,
                        on_hand=book_stock.c.on_hand - quantity,
                        sold=book_stock.c.sold + quantity,
                        updated_at=now(),
                    )
                    .returning(*LEVEL)
                )
            ).one()
            if quantity:
                moves.append(move_row(level, SALE, -quantity, intent_id))
            if had > quantity:
                moves.append(move_row(level, RELEASE, had - quantity, intent_id))
        await record(connection, moves)
        self._left.clear()
        return True

    async def returned_in(
        self, connection: AsyncConnection, intent_id: str, lines: Sequence[tuple[str, int]]
    ) -> dict[str, int]:
        """Copies of a refunded order back on hand, no longer sold, in the caller's transaction
        (staff write the refund and its audit entry in it). Only counted books have a count to
        go back to; how many copies went back, by book."""
        back = _summed(lines)
        moves = []
        # Books in one order, as every change takes their rows (PostgreSQL: no deadlock).
        for book_id in sorted(back):
            quantity = back[book_id]
            level = (
                await connection.execute(
                    update(book_stock)
                    .where(book_stock.c.book_id == book_id)
                    .values(
                        on_hand=book_stock.c.on_hand + quantity,
                        sold=case(
                            (book_stock.c.sold > quantity, book_stock.c.sold - quantity), else_=0
                        ),
                        updated_at=now(),
                    )
                    .returning(*LEVEL)
                )
            ).first()
            if level is not None:
                moves.append(move_row(level, RETURN, quantity, intent_id))
        await record(connection, moves)
        self._left.clear()
        return {move["book_id"]: move["quantity"] for move in moves}

    async def expired(self, moment: datetime) -> list[Hold]:
        """The checkouts whose held copies outlived their time, with the intent paying if known."""
        query = (
            select(
                reservations.c.checkout_id,
                reservations.c.intent_id,
                func.min(reservations.c.created_at).label("since"),
            )
            .where(reservations.c.status == HELD, reservations.c.expires_at <= moment)
            .group_by(reservations.c.checkout_id, reservations.c.intent_id)
            .order_by(reservations.c.checkout_id)
        )
        async with self.database.reading() as connection:
            rows = (await connection.execute(query)).all()
        return [Hold(row.checkout_id, row.intent_id, _aware(row.since)) for row in rows]

    async def _release(
        self, connection: AsyncConnection, which: ColumnElement[bool], reference: str
    ) -> list[dict[str, Any]]:
        # Each held row is released once: the conditional update says which rows this call took.
        # The moves it made, for the caller to record with its own.
        rows = (
            await connection.execute(
                update(reservations)
                .where(reservations.c.status == HELD, which)
                .values(status=RELEASED, updated_at=now())
                .returning(reservations.c.book_id, reservations.c.quantity)
            )
        ).all()
        back: Counter[str] = Counter()
        for row in rows:
            back[row.book_id] += row.quantity
        return await self._give_back(connection, back, reference)

    async def _give_back(
        self, connection: AsyncConnection, back: Counter[str], reference: str
    ) -> list[dict[str, Any]]:
        moves = []
        for book_id, quantity in sorted(back.items()):
            level = (
                await connection.execute(
                    update(book_stock)
                    .where(book_stock.c.book_id == book_id)
                    .values(reserved=book_stock.c.reserved - quantity, updated_at=now())
                    .returning(*LEVEL)
                )
            ).one()
            moves.append(move_row(level, RELEASE, quantity, reference))
        return moves


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; stock only ever writes UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _paying(checkout_id: str | None, intent_id: str) -> ColumnElement[bool]:
    # The copies held for a payment: by its intent once known, else its checkout's unattached.
    if checkout_id is None:
        return reservations.c.intent_id == intent_id
    return (reservations.c.intent_id == intent_id) | (
        (reservations.c.checkout_id == checkout_id) & reservations.c.intent_id.is_(None)
    )


def _summed(lines: Iterable[tuple[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for book_id, quantity in lines:
        total[book_id] += quantity
    return total


def stock() -> Stock:
    """The app's stock."""
    return cast(Stock, current_app.extensions["stock"])
