"""Shopkeeper commands: `quart --app bookshop catalog import FILE` and `catalog export [FILE]`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import click
from quart import Quart
from sqlalchemy.exc import SQLAlchemyError

from bookshop.catalog.books import Book
from bookshop.catalog.store import Catalog, Written
from bookshop.catalog.transfer import Problem, csv_writer, read_catalog
from bookshop.config import Settings
from bookshop.database import Database
from bookshop.orders.migrate import upgrade
from bookshop.text import visible

# Problems printed before the rest are only counted: the first ones show what to fix.
MAX_PROBLEMS_SHOWN = 50


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
        further columns are ignored), or the shop's TOML when its name ends in .toml. Every row
        is checked first: if any is wrong, each is listed with its line and nothing is changed,
        unless --skip-invalid is given. Importing a file again changes only what differs.
        """
        books, problems = read_catalog(file)
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
                written = asyncio.run(import_books(settings, books, bar.update))
        except ImportStopped as stopped:
            raise click.ClickException(
                f"The import stopped after {stopped.done} of {len(books)} books were written "
                f"({describe(stopped.error)}). Importing the file again is safe: it changes only "
                "what differs."
            ) from None
        click.echo(summary(len(books), written, len(problems)))

    @catalog_group.command("export")
    @click.argument("file", default="-", type=click.Path(dir_okay=False, allow_dash=True))
    def export_command(file: str) -> None:
        """Write every book, in id order, as CSV to FILE (standard output when FILE is - or
        not given): the layout `catalog import` reads."""
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


async def import_books(
    settings: Settings, books: Sequence[Book], progress: Callable[[int], None] | None = None
) -> Written:
    """Add or update the books in the database the settings name (bringing its schema up to
    date first); `progress` hears how many books each written batch held."""
    database = Database(settings.database_url)
    done = 0

    def advance(written: int) -> None:
        nonlocal done
        done += written
        if progress is not None:
            progress(written)

    try:
        await database.open()
        await upgrade(database)
        return await Catalog(database).write(books, advance)
    except (SQLAlchemyError, OSError) as error:
        raise ImportStopped(done, error) from error
    finally:
        await database.close()


async def export_books(settings: Settings, stream: IO[str]) -> int:
    """Write every book of the database the settings name to `stream` as CSV; how many."""
    database = Database(settings.database_url)
    write = csv_writer(stream)
    exported = 0
    try:
        await database.open()
        await upgrade(database)
        async for book in Catalog(database).every_book():
            write(book)
            exported += 1
    finally:
        await database.close()
    return exported


def show_problems(problems: Sequence[Problem]) -> None:
    """Print problems to standard error, the first MAX_PROBLEMS_SHOWN of them, then a count."""
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        # A parser's message may quote the file as it is: shown visibly, never raw.
        click.echo(visible(str(problem)), err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)


def summary(imported: int, written: Written, skipped: int) -> str:
    """The import's one line: `Imported 3 books: 1 added, 1 changed, 1 unchanged.`"""
    unchanged = imported - written.added - written.changed
    line = (
        f"Imported {count(imported, 'book')}: {written.added} added, {written.changed} changed, "
        f"{unchanged} unchanged"
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


def count(number: int, noun: str) -> str:
    """`1 book`, `2 books`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
