"""Shopkeeper commands: `quart --app bookshop stock set BOOK N`, `stock add BOOK N` and
`stock list [--book BOOK]`.

A book the shop does not count (no stock row) is sold without limit; `stock set` or `stock add`
starts counting it. Every change is a move recorded with what made it (`command: stock set by
ada`), so `stock list --book` can explain each number.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC
from typing import Any, TypeVar

import click
from quart import Quart
from sqlalchemy.exc import SQLAlchemyError

from bookshop.catalog.commands import describe, opened, shortened
from bookshop.catalog.store import Catalog
from bookshop.catalog.transfer import MAX_STOCK
from bookshop.config import Settings
from bookshop.stock import Stock, StockError, StockLevel, StockMove
from bookshop.text import visible

T = TypeVar("T")

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
# `stock set code -1` reaches the command as a number to refuse, not as an unknown option.
NUMBERS_MAY_BE_NEGATIVE = {"ignore_unknown_options": True}
NOT_COUNTED = "Books not listed are not counted: the shop sells them without limit."


class UnknownBook(Exception):
    """The catalog has no book with this id."""


def register(app: Quart, settings: Settings) -> None:
    """Add the `stock` commands to the app's `quart` CLI."""

    @app.cli.group("stock")
    def stock_group() -> None:
        """Copies on hand per book (a book not counted is sold without limit)."""

    @stock_group.command("set", context_settings=NUMBERS_MAY_BE_NEGATIVE)
    @click.argument("book")
    @click.argument("copies")
    def set_command(book: str, copies: str) -> None:
        """Count BOOK's COPIES on hand, reserved ones included: the shop then sells no more
        than that. Refused below the copies checkouts are paying for now."""
        number = whole_number(copies)
        reference = command_reference("stock set")
        level = run(changed(settings, book, lambda stock: stock.set(book, number, reference)))
        click.echo(f"Set {visible(book)} to {describe_level(level)}.")

    @stock_group.command("add", context_settings=NUMBERS_MAY_BE_NEGATIVE)
    @click.argument("book")
    @click.argument("copies")
    def add_command(book: str, copies: str) -> None:
        """A delivery: COPIES more of BOOK on hand (1 or more; a book not counted yet starts
        at COPIES)."""
        number = whole_number(copies)
        reference = command_reference("stock add")
        level = run(changed(settings, book, lambda stock: stock.add(book, number, reference)))
        click.echo(f"Added {count_copies(number)} of {visible(book)}: {describe_level(level)}.")

    @stock_group.command("list")
    @click.option("--book", help="One book's numbers and every move that made them.")
    def list_command(book: str | None) -> None:
        """Print every counted book's copies: on hand, reserved, available and sold."""
        if book is None:
            levels, titles = run(every_level(settings))
            click.echo(format_levels(levels, titles))
            return
        found = run(one_book(settings, book))
        if found is None:
            raise click.ClickException(f"The catalog has no book {quoted(book)}.")
        click.echo(format_book(book, *found))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's work; a refusal or a database failure becomes its one line and exit
    status 1."""
    try:
        return asyncio.run(coroutine)
    except UnknownBook as unknown:
        raise click.ClickException(
            f"The catalog has no book {quoted(str(unknown))}: nothing was changed."
        ) from None
    except StockError as refused:
        raise click.ClickException(f"{visible(str(refused))} Nothing was changed.") from None
    except (SQLAlchemyError, OSError) as error:
        raise click.ClickException(f"The database failed ({describe(error)}).") from None


def whole_number(text: str) -> int:
    """A command's count of copies, from 0 (the store refuses fewer) to MAX_STOCK."""
    if not WHOLE_NUMBER.fullmatch(text.strip()):
        raise click.ClickException(f"{quoted(text)} is not a whole number of copies.")
    number = int(text)
    if number > MAX_STOCK:
        raise click.ClickException(f"{number} copies is more than the {MAX_STOCK} a book may have.")
    return number


def command_reference(command: str) -> str:
    """What a command's moves say made them: `command: stock set by ada` (the OS user when it
    can be known)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name, no password entry
        user = ""
    return f"command: {command} by {user}" if user else f"command: {command}"


async def changed(
    settings: Settings, book_id: str, change: Callable[[Stock], Awaitable[StockLevel]]
) -> StockLevel:
    """Change a book's stock, only if the catalog has the book; its stock after."""
    async with opened(settings) as database:
        if await Catalog(database).entry(book_id) is None:
            raise UnknownBook(book_id)
        return await change(Stock(database))


async def every_level(settings: Settings) -> tuple[list[StockLevel], dict[str, str]]:
    """Every counted book's stock, and the catalog's titles of them."""
    async with opened(settings) as database:
        levels = await Stock(database).levels()
        books = await Catalog(database).entries(level.book_id for level in levels)
    return levels, {book_id: entry.book.title for book_id, entry in books.items()}


async def one_book(
    settings: Settings, book_id: str
) -> tuple[str | None, StockLevel | None, list[StockMove]] | None:
    """A book's title (None when the catalog no longer has it), stock (None when not counted)
    and moves; None when the shop knows nothing of it."""
    async with opened(settings) as database:
        entry = await Catalog(database).entry(book_id)
        book = entry.book if entry is not None else None
        stock = Stock(database)
        levels = await stock.levels(book_id)
        moves = await stock.moves(book_id)
    if book is None and not levels:
        return None
    return (book.title if book else None), (levels[0] if levels else None), moves


def format_levels(levels: Sequence[StockLevel], titles: dict[str, str]) -> str:
    """Every counted book as a table, then a line saying the others are not limited."""
    if not levels:
        return "No book is counted yet: the shop sells every book without limit."
    header = ("BOOK", "TITLE", "ON HAND", "RESERVED", "AVAILABLE", "SOLD")
    rows = [
        (
            visible(level.book_id),
            title_of(titles.get(level.book_id)),
            str(level.on_hand),
            str(level.reserved),
            str(level.available),
            str(level.sold),
        )
        for level in levels
    ]
    return f"{table(header, rows, right=range(2, 6))}\n{NOT_COUNTED}"


def format_book(
    book_id: str, title: str | None, level: StockLevel | None, moves: Sequence[StockMove]
) -> str:
    """One book's numbers, then every move that made them, oldest first."""
    name = f"{visible(book_id)}: {title_of(title, width=60)}"
    if level is None:
        return f"{name}\nNot counted: the shop sells it without limit."
    lines = [name, f"{describe_level(level)}."]
    if moves:
        header = ("TIME (UTC)", "KIND", "QUANTITY", "ON HAND", "RESERVED", "REFERENCE")
        rows = [
            (
                f"{move.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
                visible(move.kind),
                str(move.quantity),
                str(move.on_hand),
                str(move.reserved),
                visible(move.reference),
            )
            for move in moves
        ]
        lines += ["", table(header, rows, right=range(2, 5))]
    return "\n".join(lines)


def describe_level(level: StockLevel) -> str:
    """`10 on hand (2 reserved, 8 available), 3 sold`."""
    return (
        f"{level.on_hand} on hand ({level.reserved} reserved, {level.available} available), "
        f"{level.sold} sold"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: range) -> str:
    """Rows under a header, in columns two spaces apart; the `right` columns (numbers) are
    right-aligned."""
    every = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(row[column]) for row in every) for column in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in every
    )


def title_of(title: str | None, width: int = 40) -> str:
    """A title as a table shows it; one the catalog no longer has says so."""
    return "(not in the catalog)" if title is None else visible(shortened(title, width))


def count_copies(number: int) -> str:
    """`1 copy`, `2 copies`."""
    return f"{number} {'copy' if number == 1 else 'copies'}"


def quoted(text: str) -> str:
    """What the shopkeeper typed, quoted and shown visibly."""
    return f"'{visible(text)}'"
