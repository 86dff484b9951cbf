"""Shopkeeper commands: `quart --app bookshop catalog import FILE` and `catalog export [FILE]`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
from quart import Quart
from sqlalchemy.exc import SQLAlchemyError

from bookshop.catalog.books import Book
from bookshop.catalog.store import Catalog, Written
from bookshop.catalog.transfer import Problem, StockCount, csv_writer, read_catalog
from bookshop.config import Settings
from bookshop.database import Database
from bookshop.orders.migrate import upgrade
from bookshop.stock import Stock, StockError
from bookshop.text import visible

# Problems printed before the rest are only counted: the first ones show what to fix.
MAX_PROBLEMS_SHOWN = 50
# The reference of the stock moves an import makes.
IMPORT_REFERENCE = "catalog import"


@dataclass(frozen=True)
class Imported:
    """What an import wrote: the books, and how many books' copies on hand it set (the file's
    other counts were already so)."""

    written: Written
    stock_set: int = 0


class ImportStopped(Exception):
    """The database failed part way: `done` books were written (their batches committed)."""

    def __init__(self, done: int, error: Exception) -> None:
        super().__init__(str(error))
        self.done = done
        self.error = error


def register(app: Quart, settings: Settings) -> None:
    """Add the `catalog` commands to the app's `quart` CLI."""

    @app.cli.group("catalog")
    def catalog_group() -> None:
        """The catalog's books, imported from and exported to CSV."""

    @catalog_group.command("import")
    @click.argument(
        "file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
    )
    @click.option(
        "--skip-invalid",
        is_flag=True,
        help="Import the valid rows even when others are wrong (those are listed and skipped).",
    )
    def import_command(file: Path, skip_invalid: bool) -> None:
        """Add or update books from FILE, matched by id.

        FILE is CSV with the header row id,title,author,blurb,price,isbn (isbn may be empty,
        further columns are ignored), or the shop's TOML when its name ends in .toml. An
        optional stock column sets a book's copies on hand (empty: left as it is). Every row
        is checked first: if any is wrong, each is listed with its line and nothing is changed,
        unless --skip-invalid is given. Importing a file again changes only what differs. A
        retired book in FILE is updated but stays retired: the back office returns it to sale.
        """
        books, problems, counts = read_catalog(file)
        if counts and all(problem.row for problem in problems):
            try:
                held = asyncio.run(held_problems(settings, counts))
            except (SQLAlchemyError, OSError) as error:
                raise click.ClickException(
                    f"Nothing was changed: the stock could not be read ({describe(error)})."
                ) from None
            if held:
                problems = sorted([*problems, *held.values()], key=_line)
                books = [book for book in books if book.id not in held]
                counts = [count for count in counts if count.book_id not in held]
        show_problems(problems)
        if any(not problem.row for problem in problems):
            raise click.ClickException(f"Nothing was changed: {str(file)!r} could not be read.")
        if problems and not skip_invalid:
            raise click.ClickException(
                f"Nothing was changed: {count(len(problems), 'row')} of {str(file)!r} "
                f"{'is' if len(problems) == 1 else 'are'} invalid. Fix "
                f"{'it' if len(problems) == 1 else 'them'}, or pass --skip-invalid to import "
                "the valid rows alone."
            )
        # Drawn on a terminal only: logs and pipes get the summary alone.
        bar = click.progressbar(
            length=len(books), label="Importing", file=sys.stderr, hidden=not sys.stderr.isatty()
        )
        try:
            with bar:
                imported = asyncio.run(import_books(settings, books, bar.update, counts))
        except ImportStopped as stopped:
            raise click.ClickException(
                f"The import stopped after {stopped.done} of {len(books)} books were written "
                f"({describe(stopped.error)}). Importing the file again is safe: it changes only "
                "what differs."
            ) from None
        click.echo(summary(len(books), imported, len(problems), len(counts)))

    @catalog_group.command("export")
    @click.argument("file", default="-", type=click.Path(dir_okay=False, allow_dash=True))
    def export_command(file: str) -> None:
        """Write every book on sale, in id order, as CSV to FILE (standard output when FILE
        is - or not given): the layout `catalog import` reads. Retired books stay out."""
        # atomic: a file appears only once complete, so a failed export leaves no half file.
        try:
            with click.open_file(file, "w", encoding="utf-8", atomic=True) as stream:
                exported = asyncio.run(export_books(settings, stream))
        except (SQLAlchemyError, OSError) as error:
            if isinstance(error, BrokenPipeError) and file == "-":
                # The reader went away (`catalog export | head`): nothing to say. Later flushes
                # of standard output go nowhere instead of failing again as Python exits.
                _stdout_to_devnull()
                sys.exit(1)
            raise click.ClickException(
                f"The export failed ({describe(error)})"
                + ("." if file == "-" else f"; {file!r} was not written.")
            ) from None
        if file != "-":
            click.echo(f"Exported {count(exported, 'book')} to {file!r}.")


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Database]:
    """The database the settings name, open with its schema brought up to date; closed after."""
    database = Database(settings.database_url)
    try:
        await database.open()
        await upgrade(database)
        yield database
    finally:
        await database.close()


async def held_problems(settings: Settings, counts: Sequence[StockCount]) -> dict[str, Problem]:
    """A problem, by book id, for each count below the copies checkouts hold now (while they
    pay): those books' stock can't be set so low."""
    async with opened(settings) as database:
        reserved = {level.book_id: level.reserved for level in await Stock(database).levels()}
    return {
        count.book_id: count.problem(
            f"stock {count.on_hand} is below the {reserved[count.book_id]} copies checkouts "
            "are paying for now; give at least that many"
        )
        for count in counts
        if count.on_hand < reserved.get(count.book_id, 0)
    }


async def import_books(
    settings: Settings,
    books: Sequence[Book],
    progress: Callable[[int], None] | None = None,
    counts: Sequence[StockCount] = (),
) -> Imported:
    """Add or update the books in the database the settings name (bringing its schema up to
    date first), then set the copies on hand `counts` give where they differ; `progress` hears
    how many books each written batch held."""
    done = 0

    def advance(written: int) -> None:
        nonlocal done
        done += written
        if progress is not None:
            progress(written)

    try:
        async with opened(settings) as database:
            written = await Catalog(database).write(books, advance)
            return Imported(written, await set_stock(Stock(database), counts))
    except (SQLAlchemyError, OSError, StockError) as error:
        raise ImportStopped(done, error) from error


async def set_stock(stock: Stock, counts: Sequence[StockCount]) -> int:
    """Set each count's copies on hand where the shop has another number (or none); how many."""
    if not counts:
        return 0
    on_hand = {level.book_id: level.on_hand for level in await stock.levels()}
    changed = [count for count in counts if on_hand.get(count.book_id) != count.on_hand]
    for count in changed:
        await stock.set(count.book_id, count.on_hand, IMPORT_REFERENCE)
    return len(changed)


async def export_books(settings: Settings, stream: IO[str]) -> int:
    """Write every book on sale in the database the settings name to `stream` as CSV, with its
    copies on hand (empty for a book the shop does not count); how many."""
    write = csv_writer(stream)
    exported = 0
    async with opened(settings) as database:
        on_hand = {level.book_id: level.on_hand for level in await Stock(database).levels()}
        async for book in Catalog(database).every_book():
            write(book, on_hand.get(book.id))
            exported += 1
    return exported


def show_problems(problems: Sequence[Problem]) -> None:
    """Print problems to standard error, the first MAX_PROBLEMS_SHOWN of them, then a count."""
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        # A parser's message may quote the file as it is: shown visibly, never raw.
        click.echo(visible(str(problem)), err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)


def summary(books: int, imported: Imported, skipped: int, counted: int = 0) -> str:
    """The import's one line: `Imported 3 books: 1 added, 1 changed, 1 unchanged.`, with what
    became of the file's `counted` stock counts when it gave any (`; stock: 2 set, 0 unchanged`)
    and how many of its books are retired, which an import leaves so."""
    written = imported.written
    unchanged = books - written.added - written.changed
    line = (
        f"Imported {count(books, 'book')}: {written.added} added, {written.changed} changed, "
        f"{unchanged} unchanged"
    )
    if counted:
        line += f"; stock: {imported.stock_set} set, {counted - imported.stock_set} unchanged"
    if written.retired:
        line += (
            f"; {count(written.retired, 'retired book')} stayed retired (return "
            f"{'it' if written.retired == 1 else 'them'} to sale in the back office)"
        )
    if skipped:
        line += f"; {count(skipped, 'invalid row')} skipped"
    return line + "."


def describe(error: Exception) -> str:
    """An error in a line: the database driver's own message rather than SQLAlchemy's (which
    repeats the statement and a thousand rows' parameters)."""
    cause = getattr(error, "orig", None) or error
    return f"{type(cause).__name__}: {cause}"


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # io.UnsupportedOperation: no real file (a test's runner)
        pass


def _line(problem: Problem) -> int:
    # Problems in file order (those without a line keep their order, ahead).
    return problem.line or 0


def shortened(title: str, width: int = 40) -> str:
    """A title cut to `width` characters, an ellipsis ending one that was longer (for tables)."""
    return title if len(title) <= width else title[: width - 1] + "…"


def count(number: int, noun: str) -> str:
    """`1 book`, `2 books`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
