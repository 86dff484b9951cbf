"""The back office's stock page: every counted book's copies, and the forms that set a count,
add a delivery or start counting a book, each change audited in its own transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from quart import Response, redirect, request, url_for
from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop import htmx
from bookshop.admin import audit
from bookshop.admin.blueprint import acting, blueprint
from bookshop.admin.schema import STAFF
from bookshop.catalog import catalog
from bookshop.catalog.transfer import MAX_STOCK
from bookshop.orders import ledger
from bookshop.pages import render
from bookshop.security import policy
from bookshop.stock import Changed, StockError, StockLevel, stock

# A count as typed: ASCII digits, a sign so that "-1" is refused for what it is.
COPIES = re.compile(r"[+-]?[0-9]{1,9}")
MAX_SEARCH_LENGTH = 300  # the longest title
# What each form does, as the audit log names it.
SET, DELIVERY, COUNT = "set", "add", "count"
ACTIONS = {SET: "stock set", DELIVERY: "delivery added", COUNT: "stock set"}


@dataclass(frozen=True)
class Row:
    """A counted book as the page lists it; its title None when the catalog no longer has it."""

    level: StockLevel
    title: str | None


class Refused(Exception):
    """A stock form that cannot be done: what to tell staff beside it."""


# Named for the page, not the function: `stock` is the app's stock here.
@blueprint.get("/stock", endpoint="stock")
@policy(private=True, role=STAFF)
async def stock_page() -> Response:
    """Every counted book (or those whose title or id holds `q`): on hand, reserved, sold and
    available, with a form to set each count and one to add a delivery. For htmx, the table
    alone (and the URL pushed)."""
    search = _search(request.args.get("q"))
    response = await _page(search, saved=request.args.get("saved"))
    if htmx.wants_fragment():
        htmx.push_url(response, url_for("admin.stock", q=search or None))
    return response


@blueprint.post("/stock")
@policy(private=True, role=STAFF)
async def start_counting() -> Response:
    """Start counting a book the catalog has and the shop does not count yet."""
    form = await request.form
    book_id = (form.get("book_id") or "").strip()
    return await _change(COUNT, book_id, form.get("on_hand"), _search(form.get("q")))


@blueprint.post("/stock/<book_id>/set")
@policy(private=True, role=STAFF)
async def set_stock(book_id: str) -> Response:
    """Set a book's copies on hand (reserved ones included)."""
    form = await request.form
    return await _change(SET, book_id, form.get("on_hand"), _search(form.get("q")))


@blueprint.post("/stock/<book_id>/add")
@policy(private=True, role=STAFF)
async def add_delivery(book_id: str) -> Response:
    """Add a delivery's copies to what a book has on hand."""
    form = await request.form
    return await _change(DELIVERY, book_id, form.get("copies"), _search(form.get("q")))


async def _change(kind: str, book_id: str, typed: str | None, search: str) -> Response:
    # The change and its audit entry in one transaction: neither is written without the other.
    # A refusal shows the page (or the table, for htmx) again with its reason beside the form.
    form_id = "count" if kind == COUNT else f"{kind}-{book_id}"
    database = ledger().database
    try:
        copies = _copies(typed)
        await _check_book(kind, book_id)
        async with database.transaction() as connection:
            changed = await _apply(connection, kind, book_id, copies)
            await audit.record(
                connection,
                database,
                acting(),
                ACTIONS[kind],
                f"stock {book_id}",
                before=_levels(changed.before),
                after=_levels(changed.after),
            )
    except (Refused, StockError) as refused:
        # What was typed goes back into the form, cut short (it is only shown).
        kept = {form_id: (typed or "")[:20], "count-book": book_id[:60] if kind == COUNT else ""}
        return await _page(search, errors={form_id: str(refused)}, typed=kept, status=422)
    if htmx.wants_fragment():
        return await _page(search, saved=book_id)
    back = url_for("admin.stock", q=search or None, saved=book_id, _anchor=f"stock-{book_id}")
    return cast(Response, redirect(back, 303))


async def _apply(connection: AsyncConnection, kind: str, book_id: str, copies: int) -> Changed:
    reference = f"back office: {ACTIONS[kind]} by {acting().email}"
    if kind == DELIVERY:
        return await stock().add_in(connection, book_id, copies, reference)
    return await stock().set_in(connection, book_id, copies, reference)


async def _check_book(kind: str, book_id: str) -> None:
    # A counted book may be changed even once the catalog has lost it (its copies are real);
    # counting starts only for a book of the catalog, and only once.
    counted = bool(await stock().levels(book_id))
    if kind == COUNT:
        if not book_id:
            raise Refused("Enter the id of a book in the catalog.")
        if counted:
            raise Refused(f"“{book_id}” is counted already: change its copies in its row.")
    if not counted and await catalog().entry(book_id) is None:
        raise Refused(f"The catalog has no book “{book_id}”.")


def _copies(typed: str | None) -> int:
    text = (typed or "").strip()
    if not COPIES.fullmatch(text):
        raise Refused("Enter a whole number of copies, like 12.")
    copies = int(text)
    if copies > MAX_STOCK:
        raise Refused(f"A book can have at most {MAX_STOCK:,} copies.")
    return copies


def _search(typed: str | None) -> str:
    return (typed or "").strip()[:MAX_SEARCH_LENGTH]


async def _page(
    search: str,
    *,
    saved: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    rows = await _rows()
    shown = [row for row in rows if _matches(row, search)]
    # A refusal for a form the page does not show (a book not counted, or not found by the
    # search) is said above the table instead.
    forms = {"count"} | {f"{kind}-{row.level.book_id}" for row in shown for kind in (SET, DELIVERY)}
    errors = {(key if key in forms else "page"): message for key, message in (errors or {}).items()}
    return await render(
        "admin/stock.html",
        "admin/_stock_table.html",
        status=status,
        rows=shown,
        counted=len(rows),
        search=search,
        saved=next((row for row in rows if row.level.book_id == saved), None),
        errors=errors,
        typed=typed or {},
        max_stock=MAX_STOCK,
        csrf_protected=True,
    )


async def _rows() -> list[Row]:
    levels = await stock().levels()
    books = await catalog().entries(level.book_id for level in levels)
    rows = [
        Row(level, books[level.book_id].book.title if level.book_id in books else None)
        for level in levels
    ]
    return sorted(
        rows, key=lambda row: ((row.title or row.level.book_id).casefold(), row.level.book_id)
    )


def _matches(row: Row, search: str) -> bool:
    wanted = search.casefold()
    return wanted in row.level.book_id.casefold() or wanted in (row.title or "").casefold()


def _levels(level: StockLevel | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {"on_hand": level.on_hand, "reserved": level.reserved, "sold": level.sold}
