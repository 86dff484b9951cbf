"""What a shopper buys: lines of one book and a quantity each, priced from the catalog, and
where they go with what that costs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

from bookshop.address import Address
from bookshop.catalog.books import Book

MIN_QUANTITY = 1
MAX_QUANTITY = 10
MAX_TITLES = 20


@dataclass(frozen=True)
class Line:
    """One book at a quantity and a unit price (the catalog's now, or what was paid)."""

    book: Book
    quantity: int
    unit_price: int

    @property
    def total(self) -> int:
        """The line's price in minor units."""
        return self.unit_price * self.quantity


def line(book: Book, quantity: int) -> Line:
    """A line priced from the catalog now."""
    return Line(book, quantity, book.price)


@dataclass(frozen=True)
class Basket:
    """The lines of one order, in the order the shopper added them, and (once the shopper has
    said) where they go and what delivery costs."""

    lines: tuple[Line, ...] = ()
    shipping: int = 0
    address: Address | None = None

    @property
    def subtotal(self) -> int:
        """What the books cost, in minor units."""
        return sum(line.total for line in self.lines)

    @property
    def total(self) -> int:
        """What the shopper pays: the books and their delivery."""
        return self.subtotal + self.shipping

    def delivered(self, address: Address, shipping: int) -> Basket:
        """The same books, going to `address` for `shipping`."""
        return replace(self, address=address, shipping=shipping)

    @property
    def count(self) -> int:
        """How many books (copies) it holds."""
        return sum(line.quantity for line in self.lines)

    @property
    def key(self) -> str:
        """What exactly would be charged (each book, quantity and unit price), as one string: a
        page carries it so that the pay step charges only what the shopper saw."""
        return lines_key((each.book.id, each.quantity, each.unit_price) for each in self.lines)

    @property
    def destination(self) -> str:
        """Where it goes, as a short digest ("" before an address is given): a page carries it
        so that the pay step ships only to the address the shopper saw."""
        if self.address is None:
            return ""
        fields = json.dumps(asdict(self.address), sort_keys=True).encode()
        return hashlib.sha256(fields).hexdigest()[:16]

    def quantity_of(self, book_id: str) -> int:
        """How many copies of a book the basket holds (0 when none)."""
        return next((line.quantity for line in self.lines if line.book.id == book_id), 0)

    def with_quantity(self, book: Book, quantity: int) -> Basket:
        """The books with this one at this quantity (added last when new; 0 removes it)."""
        if quantity <= 0:
            return Basket(tuple(each for each in self.lines if each.book.id != book.id))
        if not self.quantity_of(book.id):
            return Basket((*self.lines, line(book, quantity)))
        return Basket(
            tuple(line(book, quantity) if each.book.id == book.id else each for each in self.lines)
        )

    def less(self, taken: Mapping[str, int]) -> Basket:
        """The books left once `taken` copies (by book id) are taken out."""
        kept = (
            replace(each, quantity=each.quantity - taken.get(each.book.id, 0))
            for each in self.lines
        )
        return Basket(tuple(each for each in kept if each.quantity > 0))


def lines_key(entries: Iterable[tuple[str, int, int]]) -> str:
    """Lines as (book id, quantity, unit price) in one string, "<book>:<quantity>:<price>" joined
    by commas: what a checkout page carries and an intent's metadata keeps."""
    return ",".join(
        f"{book_id}:{quantity}:{unit_price}" for book_id, quantity, unit_price in entries
    )


def one_book(book: Book, quantity: int) -> Basket:
    """A basket of a single line: the "buy now" checkout of one book."""
    return Basket((line(book, quantity),))


def paid_basket(
    entries: Iterable[tuple[str, int, int]],
    known: Mapping[str, Book],
    shipping: int = 0,
    address: Address | None = None,
) -> Basket:
    """An order as paid: its lines as (book id, quantity, unit price paid) with the books the
    catalog has now (`known`, by id; a book that has left it keeps its id as its title),
    delivery and address."""
    lines = []
    for book_id, quantity, unit_price in entries:
        book = known.get(book_id) or Book(book_id, book_id, "", "", unit_price)
        lines.append(Line(book, quantity, unit_price))
    return Basket(tuple(lines), shipping, address)
