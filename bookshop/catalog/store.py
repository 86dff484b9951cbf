"""The catalog in the database: books by id, a page of the grid or of a search, and writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from cachetools import TTLCache
from quart import current_app
from sqlalchemy import Select, func, select

from bookshop.catalog.books import Book, read_toml
from bookshop.catalog.schema import BOOK_COLUMNS, book_of, books
from bookshop.catalog.search import matches, words
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
    """What an import changed: books added, books changed; the others were already as given."""

    added: int = 0
    changed: int = 0


class Catalog:
    """The shop's books, read by id or a page at a time, searched, and written by imports."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: TTLCache[Any, Any] = TTLCache(CACHE_ENTRIES, CACHE_SECONDS, time.monotonic)

    async def get(self, book_id: str) -> Book | None:
        """The book with this id, or None."""
        return (await self.get_many([book_id])).get(book_id)

    async def get_many(self, book_ids: Iterable[str]) -> dict[str, Book]:
        """The books with these ids, by id (ids the catalog lacks are left out)."""
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
                    select(*BOOK_COLUMNS).where(books.c.id.in_(missing))
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
        statement: Select[Any] = select(*BOOK_COLUMNS)
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
        """How many books the catalog holds."""
        async with self.database.one_statement() as connection:
            return cast(int, await connection.scalar(select(func.count()).select_from(books)))

    async def ids(self, offset: int, limit: int) -> list[str]:
        """Book ids in id order, `limit` of them from `offset` (the sitemap's files)."""
        statement = select(books.c.id).order_by(books.c.id).offset(offset).limit(limit)
        async with self.database.one_statement() as connection:
            return list((await connection.scalars(statement)).all())

    async def every_book(self) -> AsyncIterator[Book]:
        """Every book in id order, read a batch at a time (an export)."""
        after = ""
        while True:
            statement = (
                select(*BOOK_COLUMNS)
                .where(books.c.id > after)
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
            rows = await connection.execute(
                select(*BOOK_COLUMNS).where(books.c.id.in_([book.id for book in batch]))
            )
            before = {row.id: book_of(row) for row in rows}
            changes = [book for book in batch if before.get(book.id) != book]
            if not changes:
                return Written()
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
        return Written(added, len(changes) - added)

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
    return replace(one, added=one.added + other.added, changed=one.changed + other.changed)


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
