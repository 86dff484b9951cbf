"""The catalog's table as the newest migration leaves it (its search index is the migration's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, text

from bookshop.catalog.books import Book
from bookshop.database import metadata

books = Table(
    "books",
    metadata,
    # A stable integer key: SQLite's full-text index refers to rows by it (an implicit rowid may
    # change on VACUUM), and it counts up, so the newest books have the highest.
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("id", String(60), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("author", String(200), nullable=False),
    Column("blurb", String(2000), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("isbn", String(13)),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # A retired book is no longer sold (nor shown) but stays, for the orders that name it.
    Column("retired_at", DateTime(timezone=True)),
    # The grid's sort orders, each walked in index order a page at a time.
    Index("books_by_title", "title", "id"),
    Index("books_by_price", "price", "id"),
    # The books on sale, by id: what the sitemap counts and lists.
    Index(
        "books_on_sale",
        "id",
        sqlite_where=text("retired_at IS NULL"),
        postgresql_where=text("retired_at IS NULL"),
    ),
)

BOOK_COLUMNS = tuple(books.c[name] for name in ("id", "title", "author", "blurb", "price", "isbn"))


def book_of(row: Any) -> Book:
    """The book a `books` row holds."""
    return Book(row.id, row.title, row.author, row.blurb, row.price, row.isbn)
