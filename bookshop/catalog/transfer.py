"""Catalog files in and out: CSV (or the shop's TOML) read into checked books, and CSV written.

A CSV catalog has a header row naming at least `id,title,author,blurb,price,isbn` (in any order;
other columns are ignored); `isbn` may be empty. Every row is checked by `make_book`, and ids
must be unique in the file. Problems carry the file's physical line number, as an editor shows
it (a quoted blurb spanning lines counts every line), so the shopkeeper can find each one.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from bookshop.catalog.books import Book, InvalidBook, make_book

COLUMNS = ("id", "title", "author", "blurb", "price", "isbn")
TOML_TABLE_HEADER = "[[books]]"


@dataclass(frozen=True)
class Problem:
    """Something wrong in a catalog file: at `line` (1-based; None when no line can be named).

    A problem with `row` set spoils that row alone (an import may skip it); any other spoils the
    whole file (nothing in it can be trusted, or nothing more could be read)."""

    line: int | None
    message: str
    row: bool = True

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class CatalogFile(NamedTuple):
    """What a catalog file holds: its valid books in file order, and what is wrong in it."""

    books: list[Book]
    problems: list[Problem]


def read_catalog(path: Path) -> CatalogFile:
    """Read a catalog file: the shop's TOML when the name ends in `.toml`, else CSV (UTF-8, with
    or without a byte-order mark). Never raises for what the file holds: every row that is wrong
    is a problem (with its line), and so is a file that cannot be read as a whole.

    Of two rows with one id the first is kept (when valid) and the second is a problem."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        offset = error.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        return CatalogFile(
            [],
            [
                Problem(
                    line,
                    f"the file is not UTF-8 text (byte 0x{data[offset]:02x}: {error.reason}); "
                    'save it as UTF-8 (a spreadsheet\'s "CSV UTF-8") and import it again',
                    row=False,
                )
            ],
        )
    if path.name.lower().endswith(".toml"):
        return read_toml_text(text)
    return read_csv_text(text)


def read_csv_text(text: str) -> CatalogFile:
    """The books of a CSV catalog's text (see the module's docstring)."""
    # newline="": quoted newlines reach csv as they are, and "\r\n" counts as one line.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        return CatalogFile([], [Problem(reader.line_num, f"the header is not CSV: {error}", False)])
    if header is None:
        return CatalogFile([], [Problem(1, _header_problem("the file is empty"), row=False)])
    positions, header_problem = _column_positions(header)
    if header_problem:
        return CatalogFile([], [Problem(reader.line_num, header_problem, row=False)])
    needed = max(positions.values()) + 1
    checker = _Checker()
    line = reader.line_num + 1  # where the next record starts
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            checker.problems.append(
                Problem(line, f"not CSV, so reading stopped here: {error}", row=False)
            )
            break
        start, line = line, reader.line_num + 1
        if not row:
            continue  # a blank line
        if len(row) < needed:
            checker.problems.append(
                Problem(
                    start,
                    f"only {len(row)} field{_s(len(row))} where the header names {len(header)}",
                )
            )
            continue
        checker.check(start, {name: row[position] for name, position in positions.items()})
    return checker.result()


def read_toml_text(text: str) -> CatalogFile:
    """The books of a catalog in the shop's TOML layout (`[[books]]` tables, as books.toml),
    each problem at the line of its book's `[[books]]` header."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return CatalogFile([], [Problem(None, f"the file is not valid TOML: {error}", row=False)])
    entries = data.get("books", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        return CatalogFile(
            [], [Problem(None, "`books` is not a list of [[books]] tables", row=False)]
        )
    headers = [
        number
        # split("\n"), not splitlines(): TOML ends lines at "\n" alone, and a string may hold
        # other line separators (U+2028, form feed) that would shift the count.
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip() == TOML_TABLE_HEADER
    ]
    if len(headers) != len(entries):
        # Tables written another way (`[[ books ]]`, an inline array): count them instead.
        headers = []
    checker = _Checker(where=None if headers else "book {number} of the file")
    for index, entry in enumerate(entries):
        checker.check(headers[index] if headers else index + 1, entry)
    return checker.result()


def write_csv(books: Iterable[Book], stream: IO[str]) -> int:
    """Write books as a CSV catalog (the header, then a row per book, `isbn` empty when there is
    none) to a text stream opened with `newline=""`; returns how many books it wrote."""
    write = csv_writer(stream)
    written = 0
    for book in books:
        write(book)
        written += 1
    return written


def csv_writer(stream: IO[str]) -> Callable[[Book], None]:
    """Write the CSV header to `stream` now; the function returned writes one book's row."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)

    def write(book: Book) -> None:
        writer.writerow((book.id, book.title, book.author, book.blurb, book.price, book.isbn or ""))

    return write


class _Checker:
    """Turns raw rows into books, collecting a problem per bad row and spotting repeated ids."""

    def __init__(self, where: str | None = None) -> None:
        self.books: list[Book] = []
        self.problems: list[Problem] = []
        self._where = where  # how to name a row without a line: a format with {number}
        self._first: dict[str, int] = {}  # id -> the line (or number) it first appeared on

    def check(self, number: int, fields: dict[str, Any]) -> None:
        messages = []
        try:
            book: Book | None = make_book(fields)
        except InvalidBook as error:
            book, messages = None, [str(error)]
        raw_id = fields.get("id")
        book_id = raw_id.strip() if isinstance(raw_id, str) else str(raw_id or "")
        if book_id:
            first = self._first.setdefault(book_id, number)
            if first != number:
                place = self._where.format(number=first) if self._where else f"line {first}"
                messages.append(f"id {book_id!r} already on {place}")
        if not messages:
            assert book is not None
            self.books.append(book)
        elif self._where is None:
            self.problems.append(Problem(number, "; ".join(messages)))
        else:
            where = self._where.format(number=number)
            self.problems.append(Problem(None, f"{where}: {'; '.join(messages)}"))

    def result(self) -> CatalogFile:
        return CatalogFile(self.books, self.problems)


def _column_positions(header: Sequence[str]) -> tuple[dict[str, int], str]:
    # Where each needed column is; or what is wrong with the header.
    names = [name.strip().lower() for name in header]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]  # a second byte-order mark, from a file saved twice
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        listed = ", ".join(repr(column) for column in missing)
        return {}, _header_problem(f"the header lacks the column{_s(len(missing))} {listed}")
    twice = [column for column in COLUMNS if names.count(column) > 1]
    if twice:
        return {}, f"the header names {', '.join(repr(column) for column in twice)} twice"
    return {column: names.index(column) for column in COLUMNS}, ""


def _header_problem(what: str) -> str:
    return f"{what}: a CSV catalog starts with the header row {','.join(COLUMNS)}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
