"""A book as the shop sells it, and the rules every book in the catalog keeps."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Bounds that let the largest cart's lines ride in a PaymentIntent's metadata (payments/objects.py).
MAX_ID_LENGTH = 60
MAX_PRICE = 999_999_999
MAX_TITLE_LENGTH = 300
MAX_AUTHOR_LENGTH = 200
MAX_BLURB_LENGTH = 2000
# What the shopkeeper may write between an ISBN's digits.
ISBN_SEPARATORS = re.compile(r"[\s-]")


@dataclass(frozen=True)
class Book:
    """One title in the catalog; `price` is in the shop currency's minor unit, `isbn` 13 digits."""

    id: str
    title: str
    author: str
    blurb: str
    price: int
    isbn: str | None = None


class InvalidBook(ValueError):
    """A book the catalog cannot hold; the message says every field that is wrong, and
    `fields` has each wrong field's own message by its name (a form shows it beside the field)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def make_book(fields: dict[str, Any]) -> Book:
    """A book from raw fields (a CSV row, a TOML table, a form), checked; else InvalidBook."""
    problems: dict[str, str] = {}
    book_id = _text(fields.get("id"))
    if not SLUG.fullmatch(book_id) or len(book_id) > MAX_ID_LENGTH:
        problems["id"] = (
            f"id {book_id!r} is not a lowercase slug (a-z, 0-9, single hyphens) of at most "
            f"{MAX_ID_LENGTH} characters"
        )
    title = _checked_text(fields, "title", MAX_TITLE_LENGTH, problems, required=True)
    author = _checked_text(fields, "author", MAX_AUTHOR_LENGTH, problems, required=True)
    blurb = _checked_text(fields, "blurb", MAX_BLURB_LENGTH, problems, required=False, lines=True)
    price = _price(fields.get("price"), problems)
    isbn = _isbn(_text(fields.get("isbn")), problems)
    if problems:
        raise InvalidBook(problems)
    return Book(book_id, title, author, blurb, price, isbn)


def read_toml(path: Path) -> list[Book]:
    """Every book of a catalog file in the shop's TOML layout (`[[books]]` tables), checked."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [make_book(entry) for entry in data.get("books", [])]


def normalise_isbn(raw: str) -> str:
    """An ISBN as its digits alone: "978-0-13-110362-7" -> "9780131103627"."""
    return ISBN_SEPARATORS.sub("", raw)


def isbn13_is_valid(digits: str) -> bool:
    """True for 13 ASCII digits whose last is the ISBN-13 check digit of the first twelve."""
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    weighted = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(digits))
    return weighted % 10 == 0


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


def _checked_text(
    fields: dict[str, Any],
    name: str,
    limit: int,
    problems: dict[str, str],
    *,
    required: bool,
    lines: bool = False,
) -> str:
    value = _text(fields.get(name))
    if required and not value:
        problems[name] = f"{name} is missing"
    elif len(value) > limit:
        problems[name] = f"{name} is longer than {limit} characters"
    elif any(
        unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") and not (lines and char == "\n")
        for char in value
    ):
        # Control and invisible characters would reach pages and the shopkeeper's terminal.
        problems[name] = f"{name} holds a control or invisible character"
    return value


def _price(value: Any, problems: dict[str, str]) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_PRICE:
        problems["price"] = (
            f"price {value!r} is not a whole number of minor units from 1 to {MAX_PRICE}"
        )
        return 0
    return value


def _isbn(raw: str, problems: dict[str, str]) -> str | None:
    if not raw:
        return None
    digits = normalise_isbn(raw)
    if not isbn13_is_valid(digits):
        problems["isbn"] = f"isbn {raw!r} is not an ISBN-13 with a correct check digit"
        return None
    return digits
