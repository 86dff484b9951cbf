"""The catalog in the database: the books on sale by id, a page of the grid or of a search, the
back office's view of every book (retired ones too), and writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from cachetools import TTLCache
from quart import current_app
from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.catalog.books import SLUG, Book, read_toml
from bookshop.catalog.schema import BOOK_COLUMNS, book_of, books
from bookshop.catalog.search import matches, matches_or_id, words
from bookshop.database import Database

T = TypeVar("T")

PAGE_SIZE = 24
RELEVANCE, TITLE, PRICE, NEWEST = "relevance", "title", "price", "newest"
SORTS = (RELEVANCE, TITLE, PRICE, NEWEST)
# Each sort's order (relevance ranks first, then ties go by title), walked along an index.
ORDER_BY: dict[str, tuple[Any, ...]] = {
    TITLE: (books.c.title, books.c.id),
    PRICE: (books.c.price, books.c.id),
    NEWEST: (books.c.number.desc(),),
}
# A shopkeeper's change reaches every page within this (each process keeps what it read this
# long); the pages shoppers hit most then cost no query at all.
CACHE_SECONDS = 0.5
CACHE_ENTRIES = 4096
# Rows written per statement by an import.
BATCH_SIZE = 1000
# The back office's list of books, a page at a time, and which of them it shows.
LISTING_PAGE_SIZE = 50
ON_SALE, RETIRED, EVERY = "on-sale", "retired", "all"
SHOWN = (EVERY, ON_SALE, RETIRED)
# What shoppers may buy and see: every read for them keeps to it, and a retired book is as
# absent as one the shop never had.
SELLING: ColumnElement[bool] = books.c.retired_at.is_(None)
# The fields an edit in the back office changes, as the audit log names them.
EDITABLE = ("title", "author", "blurb", "price")


@dataclass(frozen=True)
class Page:
    """One page of the grid or of a search: its books, its number, and whether another follows."""

    books: tuple[Book, ...]
    number: int
    has_next: bool

    @property
    def shown(self) -> int:
        """How many books this page and those before it hold."""
        return (self.number - 1) * PAGE_SIZE + len(self.books)


@dataclass(frozen=True)
class Written:
    """What an import changed: books added, books changed; the others were already as given.
    `retired`: how many of the books given are retired (written, and still not for sale)."""

    added: int = 0
    changed: int = 0
    retired: int = 0


@dataclass(frozen=True)
class Entry:
    """A book as the back office sees it: on sale, or retired (when, in `retired_at`)."""

    book: Book
    retired_at: datetime | None = None

    @property
    def retired(self) -> bool:
        """Whether the book is no longer sold."""
        return self.retired_at is not None


@dataclass(frozen=True)
class Listing:
    """One page of the back office's list of books, and whether another follows."""

    entries: tuple[Entry, ...]
    number: int
    has_next: bool


class Catalog:
    """The shop's books, read by id or a page at a time, searched, and written by imports and
    the back office. Reads for shoppers see only the books on sale; `entry`, `entries` and
    `listing` see retired ones too."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: TTLCache[Any, Any] = TTLCache(CACHE_ENTRIES, CACHE_SECONDS, time.monotonic)

    async def get(self, book_id: str) -> Book | None:
        """The book on sale with this id, or None (none such, or retired)."""
        return (await self.get_many([book_id])).get(book_id)

    async def get_many(self, book_ids: Iterable[str]) -> dict[str, Book]:
        """The books on sale with these ids, by id (ids the catalog lacks, or has retired,
        are left out)."""
        found: dict[str, Book] = {}
        missing = []
        for book_id in dict.fromkeys(book_ids):
            cached = self._cache.get(("book", book_id), _UNKNOWN)
            if cached is _UNKNOWN:
                missing.append(book_id)
            elif cached is not None:
                found[book_id] = cached
        if missing:
            async with self.database.one_statement() as connection:
                rows = await connection.execute(
                    select(*BOOK_COLUMNS).where(books.c.id.in_(missing), SELLING)
                )
                read = {row.id: book_of(row) for row in rows}
            for book_id in missing:
                self._cache[("book", book_id)] = read.get(book_id)
            found.update(read)
        return found

    async def page(self, number: int, sort: str, query: str = "") -> Page:
        """A page of books: all of them in `sort` order, or those matching `query` (by
        relevance unless `sort` says otherwise). A query with no words matches nothing."""
        key = ("page", number, sort, query)
        return await self._cached(key, lambda: self._page(number, sort, query))

    async def _page(self, number: int, sort: str, query: str) -> Page:
        statement: Select[Any] = select(*BOOK_COLUMNS).where(SELLING)
        order: list[Any] = []
        if query.strip():
            query_words = words(query)
            if not query_words:
                return Page((), number, False)
            found = matches(self.database.dialect, query_words)
            statement = statement.join(found, found.c.number == books.c.number)
            if sort == RELEVANCE:
                order.append(found.c.score)
        order += ORDER_BY.get(sort, ORDER_BY[TITLE])
        statement = statement.order_by(*order).limit(PAGE_SIZE + 1)
        statement = statement.offset((number - 1) * PAGE_SIZE)
        async with self.database.one_statement() as connection:
            rows = (await connection.execute(statement)).all()
        return Page(tuple(book_of(row) for row in rows[:PAGE_SIZE]), number, len(rows) > PAGE_SIZE)

    async def count(self) -> int:
        """How many books are on sale."""
        statement = select(func.count()).select_from(books).where(SELLING)
        async with self.database.one_statement() as connection:
            return cast(int, await connection.scalar(statement))

    async def ids(self, offset: int, limit: int) -> list[str]:
        """Ids of books on sale in id order, `limit` of them from `offset` (the sitemap's
        files)."""
        statement = (
            select(books.c.id).where(SELLING).order_by(books.c.id).offset(offset).limit(limit)
        )
        async with self.database.one_statement() as connection:
            return list((await connection.scalars(statement)).all())

    async def every_book(self) -> AsyncIterator[Book]:
        """Every book on sale in id order, read a batch at a time (an export)."""
        after = ""
        while True:
            statement = (
                select(*BOOK_COLUMNS)
                .where(books.c.id > after, SELLING)
                .order_by(books.c.id)
                .limit(BATCH_SIZE)
            )
            async with self.database.one_statement() as connection:
                batch = [book_of(row) for row in await connection.execute(statement)]
            for book in batch:
                yield book
            if len(batch) < BATCH_SIZE:
                return
            after = batch[-1].id

    async def write(
        self, new_books: Sequence[Book], progress: Callable[[int], None] | None = None
    ) -> Written:
        """Add or update books by id, a batch per transaction; a book already as given is left
        alone (so importing the same file twice changes nothing the second time)."""
        written = Written()
        for start in range(0, len(new_books), BATCH_SIZE):
            batch = new_books[start : start + BATCH_SIZE]
            written = _plus(written, await self._write_batch(batch))
            if progress is not None:
                progress(len(batch))
        self._cache.clear()
        return written

    async def _write_batch(self, batch: Sequence[Book]) -> Written:
        now = datetime.now(UTC)
        async with self.database.transaction() as connection:
            rows = (
                await connection.execute(
                    select(*BOOK_COLUMNS, books.c.retired_at).where(
                        books.c.id.in_([book.id for book in batch])
                    )
                )
            ).all()
            before = {row.id: book_of(row) for row in rows}
            # An import never puts a retired book back on sale: the owner does, in the back
            # office, where it is audited.
            retired = sum(1 for row in rows if row.retired_at is not None)
            changes = [book for book in batch if before.get(book.id) != book]
            if not changes:
                return Written(retired=retired)
            insert = self.database.insert(books)
            upsert = insert.on_conflict_do_update(
                index_elements=[books.c.id],
                set_={
                    name: insert.excluded[name]
                    for name in ("title", "author", "blurb", "price", "isbn", "updated_at")
                },
            )
            await connection.execute(
                upsert, [{**_columns(book), "added_at": now, "updated_at": now} for book in changes]
            )
        added = sum(1 for book in changes if book.id not in before)
        return Written(added, len(changes) - added, retired)

    async def entry(self, book_id: str) -> Entry | None:
        """The book with this id, on sale or retired, read now (not from the cache)."""
        return (await self.entries([book_id])).get(book_id)

    async def entries(self, book_ids: Iterable[str]) -> dict[str, Entry]:
        """The books with these ids, on sale or retired, by id, read now: what orders and
        stock name, and the back office edits."""
        wanted = list(dict.fromkeys(book_ids))
        if not wanted:
            return {}
        statement = select(*BOOK_COLUMNS, books.c.retired_at).where(books.c.id.in_(wanted))
        async with self.database.one_statement() as connection:
            return {row.id: _entry(row) for row in await connection.execute(statement)}

    async def listing(self, number: int, query: str = "", shown: str = EVERY) -> Listing:
        """A page of the back office's list: every book (or those on sale, or retired) by
        title, or those matching `query` by relevance, a book whose id it is first."""
        statement: Select[Any] = select(*BOOK_COLUMNS, books.c.retired_at)
        if shown == ON_SALE:
            statement = statement.where(SELLING)
        elif shown == RETIRED:
            statement = statement.where(books.c.retired_at.is_not(None))
        order: list[Any] = []
        if query.strip():
            query_words = words(query)
            if not query_words:
                return Listing((), number, False)
            typed = query.strip().lower()
            found = (
                matches_or_id(self.database.dialect, query_words, typed)
                if SLUG.fullmatch(typed)
                else matches(self.database.dialect, query_words)
            )
            statement = statement.join(found, found.c.number == books.c.number)
            order.append(found.c.score)
        order += ORDER_BY[TITLE]
        statement = statement.order_by(*order).limit(LISTING_PAGE_SIZE + 1)
        statement = statement.offset((number - 1) * LISTING_PAGE_SIZE)
        async with self.database.one_statement() as connection:
            rows = (await connection.execute(statement)).all()
        return Listing(
            tuple(_entry(row) for row in rows[:LISTING_PAGE_SIZE]),
            number,
            len(rows) > LISTING_PAGE_SIZE,
        )

    async def add_in(self, connection: AsyncConnection, book: Book) -> bool:
        """Add a new book in the caller's transaction; False when its id is taken (by a book on
        sale or retired). Call `forget` once the transaction commits."""
        now = datetime.now(UTC)
        added = await connection.execute(
            self.database.insert(books)
            .values(**_columns(book), added_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[books.c.id])
            .returning(books.c.id)
        )
        return added.first() is not None

    async def save_in(self, connection: AsyncConnection, book: Book) -> Entry | None:
        """Write a book's fields over those of the book with its id, in the caller's
        transaction; the book as it was (None: there is none, and nothing was written). Call
        `forget` once the transaction commits."""
        # Locked until the caller commits, so the "before" its audit entry records is the one
        # this write replaced.
        row = (
            await connection.execute(
                select(*BOOK_COLUMNS, books.c.retired_at)
                .where(books.c.id == book.id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        columns = _columns(book)
        del columns["id"]
        await connection.execute(
            update(books)
            .where(books.c.id == book.id)
            .values(**columns, updated_at=datetime.now(UTC))
        )
        return _entry(row)

    async def retire_in(self, connection: AsyncConnection, book_id: str, retired: bool) -> bool:
        """Take a book off sale (or put it back), in the caller's transaction; False when it was
        so already or there is no such book. Call `forget` once the transaction commits."""
        now = datetime.now(UTC)
        state = books.c.retired_at.is_(None) if retired else books.c.retired_at.is_not(None)
        changed = await connection.execute(
            update(books)
            .where(books.c.id == book_id, state)
            .values(retired_at=now if retired else None, updated_at=now)
            .returning(books.c.id)
        )
        return changed.first() is not None

    def forget(self) -> None:
        """Drop what this process has read, so its next reads show a change at once (other
        processes show it within CACHE_SECONDS)."""
        self._cache.clear()

    async def seed(self, path: Path) -> int:
        """Fill an empty catalog from a TOML catalog file; returns how many books it added."""
        async with self.database.one_statement() as connection:
            if await connection.scalar(select(books.c.id).limit(1)) is not None:
                return 0
        return (await self.write(read_toml(path))).added

    async def _cached(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        value = self._cache.get(key, _UNKNOWN)
        if value is _UNKNOWN:
            value = self._cache[key] = await load()
        return cast(T, value)


_UNKNOWN = object()


def _plus(one: Written, other: Written) -> Written:
    return replace(
        one,
        added=one.added + other.added,
        changed=one.changed + other.changed,
        retired=one.retired + other.retired,
    )


def _entry(row: Any) -> Entry:
    retired_at = row.retired_at
    if retired_at is not None and retired_at.tzinfo is None:
        retired_at = retired_at.replace(tzinfo=UTC)  # SQLite keeps no zone: the shop writes UTC
    return Entry(book_of(row), retired_at)


def _columns(book: Book) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "author": book.author,
        "blurb": book.blurb,
        "price": book.price,
        "isbn": book.isbn,
    }


def catalog() -> Catalog:
    """The app's catalog."""
    return cast(Catalog, current_app.extensions["catalog"])
