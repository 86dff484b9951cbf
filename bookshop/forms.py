"""Reading what shoppers send: each bad field is a clear 400, 404 or 422, never a crash."""

from __future__ import annotations

import re

from werkzeug.exceptions import BadRequest, NotFound, UnprocessableEntity

from bookshop.basket import MAX_QUANTITY, MIN_QUANTITY
from bookshop.catalog import Book, catalog

# Deliberately simple: one @, a dot in the domain, no spaces. Stripe validates receipt_email too.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
MAX_EMAIL_LENGTH = 254
INVALID_EMAIL = "Enter a valid email address, like name@example.com."
# ASCII digits only: str.isdigit() also passes "²" and other digits int() refuses.
DIGITS = re.compile(r"[0-9]+")


def whole_number(raw: str | None, max_digits: int) -> int | None:
    """A whole number of at most `max_digits` ASCII digits (spaces around it allowed), or None."""
    text = (raw or "").strip()
    if len(text) > max_digits or not DIGITS.fullmatch(text):
        return None
    return int(text)


def parse_quantity(raw: str | None) -> int:
    """A quantity from a form or query: 400 when not a number, 422 when outside 1-10."""
    if raw is None or raw.strip() == "":
        return MIN_QUANTITY
    quantity = whole_number(raw, 3)
    if quantity is None:
        raise BadRequest("The quantity must be a whole number.")
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise UnprocessableEntity(
            f"You can buy from {MIN_QUANTITY} to {MAX_QUANTITY} copies of a book at a time."
        )
    return quantity


def parse_email(raw: str | None) -> str:
    """A receipt address, or a 422 that says what is wrong with it."""
    email = (raw or "").strip()
    if not email:
        raise UnprocessableEntity("Enter your email address for the receipt.")
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL.match(email):
        raise UnprocessableEntity(INVALID_EMAIL)
    return email


def parse_amount(raw: str | None) -> int:
    """An amount in minor units the page showed (a hidden field): 400 unless a whole number."""
    amount = whole_number(raw, 12)
    if amount is None:
        raise BadRequest("The total is missing or not a whole number. Reload the page.")
    return amount


async def find_book(book_id: str) -> Book:
    """The catalog's book on sale, or a 404 that says so; a retired book's says it is no longer
    sold (a shopper's old link or page may still name it)."""
    book = await catalog().get(book_id)
    if book is None:
        if await catalog().entry(book_id) is not None:
            raise NotFound("We no longer sell that book.")
        raise NotFound("We don't sell that book (or the link is wrong).")
    return book
