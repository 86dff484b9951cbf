"""The books the shop sells, loaded once from books.toml."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_FILE = Path(__file__).with_name("books.toml")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Bounds that let the largest cart's lines ride in a PaymentIntent's metadata (payments/objects.py).
MAX_ID_LENGTH = 60
MAX_PRICE = 999_999_999


@dataclass(frozen=True)
class Book:
    """One title in the catalog; `price` is in the shop currency's minor unit."""

    id: str
    title: str
    author: str
    blurb: str
    price: int

    def matches(self, query: str) -> bool:
        """True when the query appears in the title or author, ignoring case."""
        needle = query.casefold()
        return needle in self.title.casefold() or needle in self.author.casefold()


class Catalog:
    """An ordered, read-only collection of books with lookup by id."""

    def __init__(self, books: list[Book]) -> None:
        self.books = tuple(books)
        self._by_id = {book.id: book for book in books}
        if len(self._by_id) != len(books):
            raise ValueError("book ids in the catalog must be unique")

    def get(self, book_id: str) -> Book | None:
        """The book with this id, or None."""
        return self._by_id.get(book_id)

    def search(self, query: str) -> tuple[Book, ...]:
        """Books whose title or author contains the query; all books for an empty query."""
        query = query.strip()
        if not query:
            return self.books
        return tuple(book for book in self.books if book.matches(query))


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Read and check a catalog file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    books = []
    for entry in data["books"]:
        book = Book(
            id=entry["id"],
            title=entry["title"],
            author=entry["author"],
            blurb=entry["blurb"],
            price=entry["price"],
        )
        if not SLUG.match(book.id) or len(book.id) > MAX_ID_LENGTH:
            raise ValueError(
                f"book id {book.id!r} is not a lowercase slug of at most {MAX_ID_LENGTH} characters"
            )
        if not isinstance(book.price, int) or not 0 < book.price <= MAX_PRICE:
            raise ValueError(
                f"book {book.id!r} needs a positive whole price in minor units, at most {MAX_PRICE}"
            )
        books.append(book)
    return Catalog(books)


@cache
def default_catalog() -> Catalog:
    """The shop's catalog, parsed once per process."""
    return load_catalog()
