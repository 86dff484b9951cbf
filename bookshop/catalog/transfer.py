"""Catalog files in and out: CSV (or the shop's TOML) read into checked books, and CSV written.

A CSV catalog has a header row naming at least `id,title,author,blurb,price,isbn` (in any order;
other columns are ignored); `isbn` may be empty. An optional `stock` column (a TOML book's
`stock` key) gives the copies on hand: a whole number from 0, or empty to leave the book's stock
as it is. Every row is checked by `make_book`, and ids must be unique in the file. Problems carry
the file's physical line number, as an editor shows it (a quoted blurb spanning lines counts
every line), so the shopkeeper can find each one.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from bookshop.catalog.books import Book, InvalidBook, make_book

COLUMNS = ("id", "title", "author", "blurb", "price", "isbn")
# Read when the header names it; always written, so an export imports back as it was.
STOCK = "stock"
EXPORTED_COLUMNS = (*COLUMNS, STOCK)
# The most copies on hand a file may give (well inside the database's integers).
MAX_STOCK = 999_999
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


@dataclass(frozen=True)
class StockCount:
    """A book's copies on hand as a valid row of a catalog file gives them, and where that row
    is (`place` names it when there is no line: "book 2 of the file")."""

    book_id: str
    on_hand: int
    line: int | None
    place: str = ""

    def problem(self, message: str) -> Problem:
        """A problem with this count's row, named as the file's other problems are."""
        if self.place:
            return Problem(None, f"{self.place}: {message}")
        return Problem(self.line, message)


class CatalogFile(NamedTuple):
    """What a catalog file holds: its valid books in file order, what is wrong in it, and the
    copies on hand its valid rows give (rows with an empty or no stock give none)."""

    books: list[Book]
    problems: list[Problem]
    stock: list[StockCount]


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
        return _spoilt(
            Problem(
                line,
                f"the file is not UTF-8 text (byte 0x{data[offset]:02x}: {error.reason}); "
                'save it as UTF-8 (a spreadsheet\'s "CSV UTF-8") and import it again',
                row=False,
            )
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
        return _spoilt(Problem(reader.line_num, f"the header is not CSV: {error}", False))
    if header is None:
        return _spoilt(Problem(1, _header_problem("the file is empty"), row=False))
    positions, header_problem = _column_positions(header)
    if header_problem:
        return _spoilt(Problem(reader.line_num, header_problem, row=False))
    # A row may stop before an optional column (stock) that ends it: that field is empty.
    needed = max(positions[column] for column in COLUMNS) + 1
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
        checker.check(
            start,
            {name: row[at] if at < len(row) else "" for name, at in positions.items()},
        )
    return checker.result()


def read_toml_text(text: str) -> CatalogFile:
    """The books of a catalog in the shop's TOML layout (`[[books]]` tables, as books.toml),
    each problem at the line of its book's `[[books]]` header."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return _spoilt(Problem(None, f"the file is not valid TOML: {error}", row=False))
    entries = data.get("books", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        return _spoilt(Problem(None, "`books` is not a list of [[books]] tables", row=False))
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


def write_csv(
    books: Iterable[Book], stream: IO[str], stock: Mapping[str, int] | None = None
) -> int:
    """Write books as a CSV catalog (the header, then a row per book, `isbn` empty when there is
    none, `stock` the copies on hand from `stock` by id, empty for a book not counted) to a text
    stream opened with `newline=""`; returns how many books it wrote."""
    write = csv_writer(stream)
    on_hand = stock or {}
    written = 0
    for book in books:
        write(book, on_hand.get(book.id))
        written += 1
    return written


def csv_writer(stream: IO[str]) -> Callable[[Book, int | None], None]:
    """Write the CSV header to `stream` now; the function returned writes one book's row, with
    its copies on hand (None: the shop does not count it, an empty field)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(EXPORTED_COLUMNS)

    def write(book: Book, on_hand: int | None = None) -> None:
        writer.writerow(
            (
                book.id,
                book.title,
                book.author,
                book.blurb,
                book.price,
                book.isbn or "",
                "" if on_hand is None else on_hand,
            )
        )

    return write


class _Checker:
    """Turns raw rows into books, collecting a problem per bad row and spotting repeated ids."""

    def __init__(self, where: str | None = None) -> None:
        self.books: list[Book] = []
        self.problems: list[Problem] = []
        self.stock: list[StockCount] = []
        self._where = where  # how to name a row without a line: a format with {number}
        self._first: dict[str, int] = {}  # id -> the line (or number) it first appeared on

    def check(self, number: int, fields: dict[str, Any]) -> None:
        messages = []
        try:
            book: Book | None = make_book(fields)
        except InvalidBook as error:
            book, messages = None, [str(error)]
        on_hand = _stock(fields.get(STOCK), messages)
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
            if on_hand is not None:
                place = self._where.format(number=number) if self._where else ""
                line = None if place else number
                self.stock.append(StockCount(book.id, on_hand, line, place))
        elif self._where is None:
            self.problems.append(Problem(number, "; ".join(messages)))
        else:
            where = self._where.format(number=number)
            self.problems.append(Problem(None, f"{where}: {'; '.join(messages)}"))

    def result(self) -> CatalogFile:
        return CatalogFile(self.books, self.problems, self.stock)


def _spoilt(problem: Problem) -> CatalogFile:
    # A file nothing can be read from.
    return CatalogFile([], [problem], [])


def _stock(value: Any, problems: list[str]) -> int | None:
    # The copies on hand a row gives; None when it gives none (empty, or no such field).
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STOCK:
        problems.append(
            f"stock {value!r} is not a whole number of copies from 0 to {MAX_STOCK} "
            "(or empty, to leave it as it is)"
        )
        return None
    return value


def _column_positions(header: Sequence[str]) -> tuple[dict[str, int], str]:
    # Where each needed column (and the stock column, if named) is; or what is wrong with the
    # header.
    names = [name.strip().lower() for name in header]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]  # a second byte-order mark, from a file saved twice
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        listed = ", ".join(repr(column) for column in missing)
        return {}, _header_problem(f"the header lacks the column{_s(len(missing))} {listed}")
    read = [column for column in EXPORTED_COLUMNS if column in names]
    twice = [column for column in read if names.count(column) > 1]
    if twice:
        return {}, f"the header names {', '.join(repr(column) for column in twice)} twice"
    return {column: names.index(column) for column in read}, ""


def _header_problem(what: str) -> str:
    return f"{what}: a CSV catalog starts with the header row {','.join(COLUMNS)}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
