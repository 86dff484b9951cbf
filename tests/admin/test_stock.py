"""The stock page: every counted book's numbers, a count set, a delivery added and a book counted
from a browser, each audited in the change's own transaction; refusals are 422s beside their
form, on the plain and the htmx path alike, and change nothing."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart, Response

from bookshop.admin import audit
from bookshop.admin.audit import Entry
from bookshop.stock import Stock, StockLevel
from tests.fixtures.app import HTMX, Client, post
from tests.fixtures.staff import STAFF_EMAIL

CODE = "Code: The Hidden Language of Computer Hardware and Software"


@pytest.fixture
def books(shop: Quart) -> Stock:
    """The stock of `shop`."""
    stock: Stock = shop.extensions["stock"]
    return stock


def later() -> datetime:
    """When a checkout's hold would lapse: after the test, whenever it runs."""
    return datetime.now(UTC) + timedelta(minutes=15)


async def level(books: Stock, book_id: str) -> StockLevel | None:
    found = await books.levels(book_id)
    return found[0] if found else None


async def stock_entries(shop: Quart, book_id: str) -> list[Entry]:
    found, _ = await audit.entries(shop.extensions["ledger"].database, subject=f"stock {book_id}")
    return found


async def text_of(response: Response) -> str:
    return html.unescape(await response.get_data(as_text=True))


async def test_staff_see_every_counted_book_with_on_hand_reserved_sold_and_available(
    shop: Quart, packer: Client, books: Stock
) -> None:
    await books.set("code", 5, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    await books.set("hackers", 1, "test")

    response = await packer.get("/admin/stock")

    assert response.status_code == 200
    body = await text_of(response)
    row = body[body.index('id="stock-code"') :]
    row = row[: row.index("</tr>")]
    assert CODE in row
    assert 'on-hand">5<' in row and 'reserved">2<' in row and 'sold">0<' in row
    assert 'available">3<' in row
    assert 'id="stock-hackers"' in body and "2 counted books" in body
    assert 'id="stock-mythical-man-month"' not in body  # not counted
    assert "<html" in body and 'name="csrf-token"' in body


async def test_a_search_by_title_or_id_lists_only_the_books_it_finds(
    packer: Client, books: Stock
) -> None:
    await books.set("code", 5, "test")
    await books.set("hackers", 1, "test")
    await books.set("mythical-man-month", 1, "test")

    by_title = await text_of(await packer.get("/admin/stock?q=hidden+LANGUAGE"))
    assert 'id="stock-code"' in by_title and 'id="stock-hackers"' not in by_title
    assert "1 of 3 counted books matching “hidden LANGUAGE”" in by_title

    swapped = await packer.get("/admin/stock?q=hack", headers=HTMX)
    fragment = await text_of(swapped)
    assert swapped.status_code == 200 and "<html" not in fragment
    assert 'id="stock-hackers"' in fragment and 'id="stock-code"' not in fragment
    assert swapped.headers["HX-Push-Url"] == "/admin/stock?q=hack"


async def test_setting_a_count_changes_it_and_audits_it_with_the_stock_before_and_after(
    shop: Quart, packer: Client, books: Stock
) -> None:
    await books.set("code", 5, "test")
    await books.reserve("checkout-a", [("code", 2)], later())

    response = await post(packer, "/admin/stock/code/set", {"on_hand": "9", "q": "code"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/stock?q=code&saved=code#stock-code"
    assert await level(books, "code") == StockLevel("code", 9, 2, 0)
    (entry,) = await stock_entries(shop, "code")
    assert (entry.actor, entry.action, entry.subject) == (STAFF_EMAIL, "stock set", "stock code")
    assert entry.before == {"on_hand": 5, "reserved": 2, "sold": 0}
    assert entry.after == {"on_hand": 9, "reserved": 2, "sold": 0}
    move = (await books.moves("code"))[-1]
    assert (move.kind, move.quantity) == ("set", 4)
    assert move.reference == f"back office: stock set by {STAFF_EMAIL}"
    shown = await text_of(await packer.get(response.headers["Location"].split("#")[0]))
    assert f"Saved: {CODE} has 9 on hand, 7 available." in shown


async def test_setting_a_count_with_htmx_swaps_the_table_and_says_it_was_saved(
    shop: Quart, packer: Client, books: Stock
) -> None:
    await books.set("code", 5, "test")

    response = await post(packer, "/admin/stock/code/set", {"on_hand": "0", "q": ""}, HTMX)

    assert response.status_code == 200
    fragment = await text_of(response)
    assert "<html" not in fragment and 'on-hand">0<' in fragment
    assert f"Saved: {CODE} has 0 on hand, 0 available." in fragment
    assert 'id="live-status" hx-swap-oob="innerHTML">Saved:' in fragment
    assert await level(books, "code") == StockLevel("code", 0, 0, 0)
    assert [entry.action for entry in await stock_entries(shop, "code")] == ["stock set"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
async def test_a_delivery_adds_copies_and_is_audited(
    shop: Quart, packer: Client, books: Stock, headers: dict[str, str]
) -> None:
    await books.set("code", 5, "test")

    response = await post(packer, "/admin/stock/code/add", {"copies": " 12 "}, headers)

    assert response.status_code == (200 if headers else 303)
    assert await level(books, "code") == StockLevel("code", 17, 0, 0)
    (entry,) = await stock_entries(shop, "code")
    assert entry.action == "delivery added"
    assert (entry.before, entry.after) == (
        {"on_hand": 5, "reserved": 0, "sold": 0},
        {"on_hand": 17, "reserved": 0, "sold": 0},
    )
    assert [(move.kind, move.quantity) for move in await books.moves("code")][-1] == (
        "delivery",
        12,
    )


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
async def test_a_book_of_the_catalog_starts_being_counted(
    shop: Quart, packer: Client, books: Stock, headers: dict[str, str]
) -> None:
    response = await post(packer, "/admin/stock", {"book_id": " hackers ", "on_hand": "4"}, headers)

    assert response.status_code == (200 if headers else 303)
    assert await level(books, "hackers") == StockLevel("hackers", 4, 0, 0)
    (entry,) = await stock_entries(shop, "hackers")
    assert (entry.action, entry.before, entry.after) == (
        "stock set",
        None,
        {"on_hand": 4, "reserved": 0, "sold": 0},
    )
    if headers:
        assert 'id="stock-hackers"' in await text_of(response)


# A refused change: the URL, its form, the form's id on the page ("page": no form shows the book)
# and what its message says.
REFUSALS: list[tuple[str, dict[str, str], str, str]] = [
    ("/admin/stock/code/set", {"on_hand": "many"}, "set-code", "Enter a whole number of copies"),
    ("/admin/stock/code/set", {"on_hand": ""}, "set-code", "Enter a whole number of copies"),
    ("/admin/stock/code/set", {"on_hand": "-1"}, "set-code", "fewer than 0 copies"),
    ("/admin/stock/code/set", {"on_hand": "1"}, "set-code", "2 copies of code are reserved"),
    ("/admin/stock/code/set", {"on_hand": "1000000"}, "set-code", "at most 999,999 copies"),
    ("/admin/stock/code/add", {"copies": "0"}, "add-code", "at least 1 copy"),
    ("/admin/stock/code/add", {"copies": "٣"}, "add-code", "Enter a whole number of copies"),
    (
        "/admin/stock/no-such-book/set",
        {"on_hand": "3"},
        "page",
        "The catalog has no book “no-such-book”",
    ),
    (
        "/admin/stock",
        {"book_id": "no-such-book", "on_hand": "3"},
        "count",
        "no book “no-such-book”",
    ),
    ("/admin/stock", {"book_id": "", "on_hand": "3"}, "count", "Enter the id of a book"),
    ("/admin/stock", {"book_id": "code", "on_hand": "3"}, "count", "“code” is counted already"),
    ("/admin/stock", {"book_id": "hackers", "on_hand": "x"}, "count", "Enter a whole number"),
]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
@pytest.mark.parametrize(("url", "form", "form_id", "message"), REFUSALS)
async def test_a_refused_change_is_a_422_beside_its_form_and_changes_and_audits_nothing(
    shop: Quart,
    packer: Client,
    books: Stock,
    headers: dict[str, str],
    url: str,
    form: dict[str, str],
    form_id: str,
    message: str,
) -> None:
    await books.set("code", 5, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    database = shop.extensions["ledger"].database
    entries_before = await audit.entries(database)
    moves_before = await books.moves("code")

    response = await post(packer, url, form, headers)

    assert response.status_code == 422
    body = await text_of(response)
    assert message in body
    # Beside its form, which points to it; above the table for a book with no row.
    error = body.index(f'id="{form_id}-error"')
    assert message in body[error : error + 300]
    assert (f'aria-describedby="{form_id}-error"' in body) is (form_id != "page")
    assert ("<html" in body) is not bool(headers)
    if headers:
        assert 'id="live-alert" hx-swap-oob="innerHTML">' in body
    assert await books.levels() == [StockLevel("code", 5, 2, 0)]
    assert await books.moves("code") == moves_before
    assert await audit.entries(database) == entries_before


async def test_what_was_typed_stays_in_a_refused_form(packer: Client, books: Stock) -> None:
    await books.set("code", 5, "test")
    body = await text_of(await post(packer, "/admin/stock/code/add", {"copies": "lots"}))
    assert 'id="add-code" name="copies"' in body
    assert (
        'value="lots" required aria-invalid="true" aria-describedby="add-code-error" autofocus'
        in body
    )


async def test_a_change_whose_audit_entry_fails_is_undone(
    shop: Quart, packer: Client, books: Stock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await books.set("code", 5, "test")

    async def failing(*args: Any, **kwargs: Any) -> bool:
        raise OSError("the audit log's disk is full")

    monkeypatch.setattr(audit, "record", failing)
    response = await post(packer, "/admin/stock/code/set", {"on_hand": "9"})

    assert response.status_code == 500
    assert await level(books, "code") == StockLevel("code", 5, 0, 0)
    assert [move.kind for move in await books.moves("code")] == ["set"]


async def test_a_book_the_catalog_lost_can_still_be_counted_in_its_row(
    shop: Quart, packer: Client, books: Stock
) -> None:
    await books.set("withdrawn-title", 2, "test")
    page = await text_of(await packer.get("/admin/stock"))
    assert "(not in the catalog)" in page
    response = await post(packer, "/admin/stock/withdrawn-title/set", {"on_hand": "0"})
    assert response.status_code == 303
    assert await level(books, "withdrawn-title") == StockLevel("withdrawn-title", 0, 0, 0)


async def test_the_owner_may_change_stock_too(shop: Quart, owner: Client, books: Stock) -> None:
    response = await post(owner, "/admin/stock/code/add", {"copies": "3"})
    assert response.status_code == 303
    assert await level(books, "code") == StockLevel("code", 3, 0, 0)
