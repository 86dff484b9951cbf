"""The catalog in the back office: the owner lists books, adds and edits them, and retires them
from sale (or returns them to it), each change audited in its own write's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

from quart import Response, current_app, redirect, request, url_for
from sqlalchemy.ext.asyncio import AsyncConnection
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.admin import audit
from bookshop.admin.blueprint import acting, blueprint
from bookshop.admin.schema import OWNER
from bookshop.catalog import Book, InvalidBook, catalog, make_book
from bookshop.catalog.books import MAX_PRICE
from bookshop.catalog.store import EDITABLE, EVERY, ON_SALE, RETIRED, SHOWN, Entry
from bookshop.config import Settings
from bookshop.forms import whole_number
from bookshop.money import format_money, parse_money, plain_amount
from bookshop.pages import render
from bookshop.security import policy

MAX_QUERY_LENGTH = 100
MAX_PAGE_DIGITS = 6
# The fields a new book is given, and how the form names each in its messages.
LABELS = {
    "id": "ID",
    "title": "Title",
    "author": "Author",
    "blurb": "Blurb",
    "price": "Price",
    "isbn": "ISBN",
}
SHOWN_CHOICES = {EVERY: "All books", ON_SALE: "On sale", RETIRED: "Retired"}
# /admin/catalog/new is the form that adds a book, so no book added here may take its path.
RESERVED_IDS = ("new",)
# What a book's page says once a change is done (`?done=` after the 303).
DONE = {
    "added": "Book added: the shop shows it now.",
    "edited": "Changes saved: the shop shows them now.",
    "unchanged": "Nothing to save: the book was already so.",
    "retired": "Book retired.",
    "returned": "Book returned to sale: the shop shows and sells it again.",
}


@blueprint.get("/catalog", endpoint="catalog")
@policy(private=True, role=OWNER)
async def books_page() -> Response:
    """Every book 50 a page by title, retired ones marked (or only those on sale, or retired),
    searched by title, author, ISBN or id; for htmx, the table alone."""
    query = request.args.get("q", "").strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise BadRequest(f"Searches can be at most {MAX_QUERY_LENGTH} characters long.")
    shown = request.args.get("shown", EVERY)
    if shown not in SHOWN:
        raise BadRequest(f"Show one of: {', '.join(SHOWN)}.")
    number = whole_number(request.args.get("page", "1"), MAX_PAGE_DIGITS)
    if not number:
        raise BadRequest("The page must be a whole number, 1 or more.")
    listing = await catalog().listing(number, query, shown)
    if not listing.entries and number > 1:
        raise NotFound(f"There is no page {number}: the books end sooner.")
    response = await render(
        "admin/catalog.html",
        "admin/_catalog_table.html",
        query=query,
        shown=shown,
        shown_choices=SHOWN_CHOICES,
        listing=listing,
        next_page=_list_args(query, shown, number + 1) if listing.has_next else None,
        previous_page=_list_args(query, shown, number - 1) if number > 1 else None,
    )
    if htmx.wants_fragment():
        htmx.push_url(response, url_for("admin.catalog", **_list_args(query, shown, number)))
    return response


@blueprint.get("/catalog/new")
@policy(private=True, role=OWNER)
async def new_book() -> Response:
    """The form that adds a book."""
    return await _editor(None, {}, {})


@blueprint.post("/catalog/new")
@policy(private=True, role=OWNER)
async def add_book() -> Response:
    """Add a book: on to its page (303), or the form again with a message beside each field
    to fix (422). An id already taken, by a book on sale or retired, is refused."""
    form = await request.form
    values = _typed(form, LABELS)
    errors: dict[str, str] = {}
    book = _checked(values, errors)
    if book is not None and book.id in RESERVED_IDS:
        errors["id"] = f"“{book.id}” is the address of this form: choose another id."
    if book is None or errors:
        return await _editor(None, values, errors, status=422)
    async with _changing() as connection:
        added = await catalog().add_in(connection, book)
        if added:
            await _record(connection, "book added", book.id, after=_fields(book, LABELS))
    if not added:
        errors["id"] = "A book has this id already (on sale or retired): choose another."
        return await _editor(None, values, errors, status=422)
    url = url_for("admin.book", book_id=book.id, done="added")
    if htmx.wants_fragment():
        return htmx.redirect(Response(status=204), url)
    return cast(Response, redirect(url, 303))


@blueprint.get("/catalog/<book_id>", endpoint="book")
@policy(private=True, role=OWNER)
async def book_page(book_id: str) -> Response:
    """A book's form: its title, author, blurb and price to edit, and whether it is sold."""
    entry = await _entry(book_id)
    notice = DONE.get(request.args.get("done", ""))
    return await _editor(entry, _values_of(entry.book), {}, notice=notice)


@blueprint.post("/catalog/<book_id>")
@policy(private=True, role=OWNER)
async def save_book(book_id: str) -> Response:
    """Save a book's title, author, blurb and price (its id and ISBN stay): back to its page
    (303; the form for htmx), or the form again with a message beside each field (422)."""
    entry = await _entry(book_id)
    form = await request.form
    values = _typed(form, EDITABLE)
    errors: dict[str, str] = {}
    book = _checked({**values, "id": entry.book.id, "isbn": entry.book.isbn or ""}, errors)
    if book is None:
        return await _editor(entry, values, errors, status=422)
    if all(getattr(book, name) == getattr(entry.book, name) for name in EDITABLE):
        return await _done(entry.book.id, "unchanged")
    async with _changing() as connection:
        before = await catalog().save_in(connection, book)
        if before is None:
            raise NotFound("There is no book with that id.")
        changed = [name for name in EDITABLE if getattr(book, name) != getattr(before.book, name)]
        await _record(
            connection,
            "book edited",
            book.id,
            before=_fields(before.book, changed),
            after=_fields(book, changed),
        )
    return await _done(book.id, "edited")


@blueprint.post("/catalog/<book_id>/retire")
@policy(private=True, role=OWNER)
async def retire_book(book_id: str) -> Response:
    """Retire a book (`retired=1`: no longer shown or sold, its orders untouched) or return it
    to sale (`retired=0`): back to its page (303; the form for htmx)."""
    await _entry(book_id)
    wanted = (await request.form).get("retired")
    if wanted not in ("1", "0"):
        raise BadRequest("Say whether to retire the book (retired=1) or return it to sale (0).")
    retired = wanted == "1"
    async with _changing() as connection:
        # Already so (a second click, another tab): nothing is written, nor recorded.
        if await catalog().retire_in(connection, book_id, retired):
            await _record(
                connection,
                "book retired" if retired else "book returned to sale",
                book_id,
                before={"retired": not retired},
                after={"retired": retired},
            )
    return await _done(book_id, "retired" if retired else "returned")


def parse_price(raw: str, currency: str, locale: str) -> int:
    """A price typed in the currency's major unit, as `locale` writes numbers ("12.50"), in
    minor units (1250); ValueError says what to type instead."""
    minor = parse_money(raw, currency, locale, "the price")
    if not 0 < minor <= MAX_PRICE:
        highest = format_money(MAX_PRICE, currency, locale)
        raise ValueError(f"Enter a price above zero and at most {highest}.")
    return minor


@asynccontextmanager
async def _changing() -> AsyncIterator[AsyncConnection]:
    # The write and its audit entry in one transaction; once it commits, this process forgets
    # the books it read, so the shop shows the change at once (other processes within their
    # cache's half second).
    books = catalog()
    async with books.database.transaction() as connection:
        yield connection
    books.forget()


async def _record(
    connection: AsyncConnection,
    action: str,
    book_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        connection,
        catalog().database,
        acting(),
        action,
        f"book {book_id}",
        before=before,
        after=after,
    )


async def _entry(book_id: str) -> Entry:
    entry = await catalog().entry(book_id)
    if entry is None:
        raise NotFound("There is no book with that id.")
    return entry


def _typed(form: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    # What the owner typed, kept as typed to show again; a textarea's line breaks come as
    # "\r\n", which the catalog's rules would refuse as a control character.
    values = {name: form.get(name, "") for name in names}
    if "blurb" in values:
        values["blurb"] = values["blurb"].replace("\r\n", "\n").replace("\r", "\n")
    return values


def _checked(values: dict[str, str], errors: dict[str, str]) -> Book | None:
    # The book the form gives, through the catalog's own rules; None, with `errors` by field,
    # when any is wrong (a price that is not money is said as such, not in minor units).
    settings = _settings()
    fields: dict[str, Any] = dict(values)
    try:
        fields["price"] = parse_price(values["price"], settings.currency, settings.locale)
    except ValueError as error:
        errors["price"] = str(error)
        fields["price"] = 1  # checked as money above; let the rules check the rest
    try:
        book = make_book(fields)
    except InvalidBook as invalid:
        errors.update({name: _said(name, message) for name, message in invalid.fields.items()})
        return None
    return None if errors else book


def _said(name: str, message: str) -> str:
    # The rules name a field by its key, in a clause ("isbn '12' is not..."): the form names it
    # by its label, in a sentence.
    label = LABELS.get(name, name)
    said = label + message[len(name) :] if message.startswith(name + " ") else message
    return said if said.endswith(".") else said + "."


def _fields(book: Book, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(book, name) for name in names}


def _values_of(book: Book) -> dict[str, str]:
    settings = _settings()
    return {
        "title": book.title,
        "author": book.author,
        "blurb": book.blurb,
        "price": plain_amount(book.price, settings.currency, settings.locale),
    }


async def _done(book_id: str, what: str) -> Response:
    # After a change: the book's page (303), or for htmx its form, saying what was done.
    if not htmx.wants_fragment():
        return cast(Response, redirect(url_for("admin.book", book_id=book_id, done=what), 303))
    entry = await _entry(book_id)
    return await _editor(entry, _values_of(entry.book), {}, notice=DONE[what])


async def _editor(
    entry: Entry | None,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    # The book's form (a new one's without `entry`); for htmx the editor alone.
    return await render(
        "admin/book_form.html",
        "admin/book_form.html",
        status=status,
        entry=entry,
        values=values,
        errors=errors,
        notice=notice,
        labels=LABELS,
        currency=_settings().currency.upper(),
        csrf_protected=True,
    )


def _list_args(query: str, shown: str, number: int) -> dict[str, Any]:
    # The list's URL query: only what differs from the defaults.
    args: dict[str, Any] = {}
    if query:
        args["q"] = query
    if shown != EVERY:
        args["shown"] = shown
    if number > 1:
        args["page"] = number
    return args


def _settings() -> Settings:
    return cast(Settings, current_app.extensions["settings"])
