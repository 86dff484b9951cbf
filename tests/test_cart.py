"""The cart: adding from the grid, the cart page and its forms, limits, and the signed cookie."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart, Response

from bookshop import cart
from bookshop.catalog import Book
from bookshop.money import format_money
from bookshop.stock import Stock
from tests.fixtures.app import BOOKS, HTMX, Client, post
from tests.fixtures.live import alerted, focused, said


async def add(client: Client, book_id: str, htmx: bool = False, **form: str) -> Response:
    """Press a book's "Add to cart" button (htmx's way, or a plain form's)."""
    return await post(client, "/cart/add", {"book_id": book_id, **form}, HTMX if htmx else None)


def header_count(body: str) -> int:
    """The cart count the page's header shows."""
    match = re.search(r'id="cart-count"[^>]*>(\d+)<', body)
    assert match, "the page shows the cart's count"
    return int(match.group(1))


async def test_adding_with_htmx_swaps_the_button_and_updates_the_count_out_of_band(
    client: Client,
) -> None:
    response = await add(client, "code", htmx=True)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert "Added ✓" in body and 'name="book_id" value="code"' in body
    assert re.search(r'<span id="cart-count" hx-swap-oob="innerHTML">1<', body)
    assert '1<span class="visually-hidden"> book in your cart' in body
    assert response.headers["HX-Trigger"] == "cart:changed"
    again = await add(client, "hackers", htmx=True)
    assert 'hx-swap-oob="innerHTML">2<' in await again.get_data(as_text=True)


async def test_adding_without_javascript_is_a_303_to_the_cart(client: Client) -> None:
    response = await add(client, "code")
    assert response.status_code == 303
    assert response.headers["Location"] == "/cart"
    page = await (await client.get("/cart")).get_data(as_text=True)
    assert "Code: The Hidden Language" in page and header_count(page) == 1


async def test_the_grid_and_a_books_checkout_page_offer_add_to_cart(client: Client) -> None:
    for url in ("/", "/?q=petzold", "/checkout/code"):
        body = await (await client.get(url)).get_data(as_text=True)
        assert 'action="/cart/add"' in body and 'hx-post="/cart/add"' in body, url
        assert 'Add to cart<span class="visually-hidden"> Code: The Hidden' in body, url


async def test_the_cart_page_lists_each_line_with_its_prices_and_the_totals(
    client: Client,
) -> None:
    await add(client, "code")
    await add(client, "hackers", quantity="2")

    response = await client.get("/cart")
    body = await response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    lines = re.findall(r'<li class="cart-line[^"]*" data-book="([^"]+)"', body)
    assert lines == ["code", "hackers"]
    assert 'src="/covers/code.svg"' in body and "Charles Petzold" in body
    assert "22.00\xa0SGD</span> each" in body  # hackers' unit price
    assert "44.00\xa0SGD" in body  # its line total
    assert "Subtotal (3 books)" in body
    assert 'class="total" data-amount="7300"' in body
    assert 'href="/checkout"' in body
    assert header_count(body) == 3


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
async def test_changing_a_quantity_swaps_the_summary_or_reloads_the_page(
    client: Client, htmx: bool
) -> None:
    await add(client, "code")
    response = await post(client, "/cart/code", {"quantity": "4"}, HTMX if htmx else None)
    if htmx:
        body = await response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in body
        assert 'data-amount="11600"' in body
        assert 'id="cart-count" hx-swap-oob="innerHTML">4<' in body
    else:
        assert (response.status_code, response.headers["Location"]) == (303, "/cart")
    page = await (await client.get("/cart")).get_data(as_text=True)
    assert 'data-amount="11600"' in page and header_count(page) == 4


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
async def test_removing_the_last_line_leaves_an_empty_cart_that_says_so(
    client: Client, htmx: bool
) -> None:
    await add(client, "code")
    response = await post(client, "/cart/code/remove", {}, HTMX if htmx else None)
    assert response.status_code == (200 if htmx else 303)
    page = await (await client.get("/cart")).get_data(as_text=True)
    assert "Your cart is empty." in page
    assert 'href="/">Browse the books' in page
    assert header_count(page) == 0


@pytest.mark.parametrize(
    ("book_id", "status", "message"),
    [
        ("", 400, "Choose a book to add to your cart."),
        ("no-such-book", 404, "We don&#39;t sell that book"),
    ],
)
async def test_adding_no_book_is_a_400_and_a_book_not_sold_a_404(
    client: Client, book_id: str, status: int, message: str
) -> None:
    response = await add(client, book_id)
    assert response.status_code == status
    assert message in await response.get_data(as_text=True)
    assert header_count(await (await client.get("/cart")).get_data(as_text=True)) == 0


async def test_changing_a_book_that_is_not_in_the_cart_is_a_404(client: Client) -> None:
    response = await post(client, "/cart/code", {"quantity": "2"})
    assert response.status_code == 404
    assert "isn&#39;t in your cart" in await response.get_data(as_text=True)


async def test_an_eleventh_copy_gets_the_limit_message(client: Client) -> None:
    assert (await add(client, "code", quantity="10")).status_code == 303
    too_many = await add(client, "code", htmx=True)
    body = await too_many.get_data(as_text=True)
    assert too_many.status_code == 422
    assert "at most 10 copies" in body
    # htmx swaps the answer in place of the form: the button stays, the reason beside it.
    assert body.lstrip().startswith('<form class="add-to-cart"') and "Add to cart" in body
    changed = await post(client, "/cart/code", {"quantity": "11"})
    assert changed.status_code == 422
    assert "from 1 to 10 copies" in await changed.get_data(as_text=True)


@pytest.fixture
async def bigger_catalog(app: Quart) -> list[Book]:
    """The catalog with enough books to fill a cart past its limit of titles."""
    extra = [Book(f"extra-{n}", f"Extra {n}", "Anon", "", 1000) for n in range(10)]
    await app.extensions["catalog"].write(extra)
    return [*BOOKS.values(), *extra]


async def test_a_twenty_first_title_gets_the_limit_message(
    client: Client, bigger_catalog: list[Book]
) -> None:
    books = bigger_catalog
    for book in books[:20]:
        assert (await add(client, book.id)).status_code == 303
    refused = await add(client, books[20].id)
    body = await refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "at most 20 different books" in body
    # Another copy of a book already there is still fine.
    assert (await add(client, books[0].id)).status_code == 303


async def test_a_cookie_edited_by_hand_is_ignored(client: Client) -> None:
    await add(client, "code")
    # The same cookie with another cart and the old signature: Quart refuses it whole.
    cookie = next(c for c in client.cookie_jar if c.name == "session")  # type: ignore[union-attr]
    payload, _, signature = cookie.value.partition(".")
    forged = base64.urlsafe_b64encode(json.dumps({"cart": [["code", 10]]}).encode()).decode()
    client.set_cookie("localhost", "session", f"{forged.rstrip('=')}.{signature}")

    page = await (await client.get("/cart")).get_data(as_text=True)

    assert payload != forged.rstrip("=")
    assert "Your cart is empty." in page and header_count(page) == 0


async def test_entries_the_shop_never_writes_are_skipped(client: Client, app: Quart) -> None:
    async with client.session_transaction() as session:
        session["cart"] = [["code", 99], "junk", ["hackers", 2], ["hackers", 1]]
    page = await (await client.get("/cart")).get_data(as_text=True)
    assert re.findall(r'data-book="([^"]+)"', page) == ["hackers"]
    assert header_count(page) == 2


async def test_a_book_that_left_the_catalog_is_dropped_with_a_notice(client: Client) -> None:
    async with client.session_transaction() as session:
        session["cart"] = [["out-of-print", 1], ["code", 2]]
    first = await (await client.get("/cart")).get_data(as_text=True)
    again = await (await client.get("/cart")).get_data(as_text=True)
    assert cart.LEFT_THE_CATALOG in first
    assert re.findall(r'data-book="([^"]+)"', first) == ["code"]
    assert cart.LEFT_THE_CATALOG not in again


async def test_a_price_the_shopkeeper_changes_is_the_price_the_cart_shows(
    client: Client, app: Quart
) -> None:
    await add(client, "code")
    assert "29.00\xa0SGD" in await (await client.get("/cart")).get_data(as_text=True)
    await app.extensions["catalog"].write([replace(BOOKS["code"], price=3350)])
    body = await (await client.get("/cart")).get_data(as_text=True)
    assert "33.50\xa0SGD" in body and "29.00\xa0SGD" not in body


async def test_adding_with_htmx_says_so_and_the_button_keeps_its_id_for_the_focus(
    client: Client,
) -> None:
    grid = await (await client.get("/")).get_data(as_text=True)
    assert '<button id="add-code" class="btn btn-outline-primary btn-sm"' in grid
    body = await (await add(client, "code", htmx=True)).get_data(as_text=True)
    # htmx puts the focus back on the element with the focused one's id.
    assert '<button id="add-code" class="btn btn-success btn-sm"' in body
    assert said(body) == (f"Added {BOOKS['code'].title} to your cart. 1 book in your cart.")
    body = await (await add(client, "code", htmx=True)).get_data(as_text=True)
    assert said(body) is not None and said(body).endswith(" 2 books in your cart.")  # type: ignore[union-attr]
    assert alerted(body) is None and focused(body) == []


async def test_a_refused_add_is_said_in_the_alert_region_beside_the_same_button(
    client: Client,
) -> None:
    await add(client, "code", quantity="10")
    body = await (await add(client, "code", htmx=True)).get_data(as_text=True)
    assert 'id="add-code"' in body
    assert (alerted(body) or "").startswith("You can buy at most 10 copies of a book at a time")
    assert said(body) is None


async def test_a_quantity_changed_with_htmx_is_said_with_the_new_total_and_keeps_the_focus(
    client: Client,
) -> None:
    await add(client, "code")
    await add(client, "hackers")
    body = await (await post(client, "/cart/code", {"quantity": "2"}, HTMX)).get_data(as_text=True)
    assert said(body) == (
        "Code: The Hidden Language of Computer Hardware and Software: 2 copies. "
        "3 books in your cart, 80.00\xa0SGD."  # 2 x 29 + 22
    )
    # The select and its Update button come back with their ids, so the focus stays on them;
    # nothing else takes it.
    assert 'id="quantity-code"' in body and 'id="update-code"' in body
    assert focused(body) == []
    cart = await (await client.get("/cart")).get_data(as_text=True)
    assert 'hx-trigger="change delay:1s, submit"' in cart  # arrow keys pass through options
    assert said(cart) is None


@pytest.mark.parametrize(
    ("removed", "focus"),
    [
        ("code", '<h2 id="line-hackers"'),
        ("hackers", '<h2 id="line-mythical-man-month"'),
        ("mythical-man-month", '<h1 id="cart-heading"'),
    ],
)
async def test_removing_a_line_with_htmx_moves_the_focus_to_the_next_line_or_the_heading(
    client: Client, removed: str, focus: str
) -> None:
    for book_id in ("code", "hackers", "mythical-man-month"):
        await add(client, book_id)
    response = await post(client, f"/cart/{removed}/remove", {}, HTMX)
    body = await response.get_data(as_text=True)
    (tag,) = focused(body)
    assert tag.startswith(focus) and 'tabindex="-1"' in tag
    left = sum(BOOKS[kept].price for kept in ("code", "hackers", "mythical-man-month")) - (
        BOOKS[removed].price
    )
    assert said(body) == (
        f"Removed {BOOKS[removed].title} from your cart. "
        f"2 books in your cart, {format_money(left, 'sgd')}."
    )


async def test_removing_the_last_book_says_the_cart_is_empty_and_focuses_its_heading(
    client: Client,
) -> None:
    await add(client, "code")
    body = await (await post(client, "/cart/code/remove", {}, HTMX)).get_data(as_text=True)
    assert said(body) == (
        "Removed Code: The Hidden Language of Computer Hardware and Software from your cart. "
        "Your cart is empty."
    )
    assert [tag.split(" class")[0] for tag in focused(body)] == ['<h1 id="cart-heading"']


async def test_the_plain_cart_page_moves_no_focus_and_writes_no_live_region(
    client: Client,
) -> None:
    await add(client, "code")
    assert (await post(client, "/cart/code/remove", {})).status_code == 303
    page = await (await client.get("/cart")).get_data(as_text=True)
    assert focused(page) == [] and said(page) is None
    # The page's own regions are there, empty, for the swaps to write into.
    assert (
        '<div id="live-status" class="visually-hidden" role="status" aria-live="polite"></div>'
        in page
    )
    assert (
        '<div id="live-alert" class="visually-hidden" role="alert" aria-live="assertive"></div>'
        in page
    )


# --- What is left to buy ---------------------------------------------------------------------


@pytest.fixture
def stock(app: Quart) -> Stock:
    """The shop's stock: a book is counted once a test sets how many copies it has."""
    stock: Stock = app.extensions["stock"]
    return stock


def line_of(body: str, book_id: str) -> str:
    """One line of the cart page (or its summary)."""
    start = body.index(f'data-book="{book_id}"')
    return body[start : body.index("</li>", start)]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_adding_a_sold_out_book_is_a_422_that_says_so(
    client: Client, stock: Stock, htmx: bool
) -> None:
    await stock.set("code", 0, "test")
    response = await add(client, "code", htmx=htmx)
    body = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Sold out: no copies of this book are left to buy." in body
    if htmx:
        # The form, in place, with the reason beside the button and in the alert region. The
        # button keeps its id and stays focusable (aria-disabled), so the focus stays on it.
        assert body.lstrip().startswith('<form class="add-to-cart"')
        assert alerted(body) == "Sold out: no copies of this book are left to buy."
        assert said(body) is None and focused(body) == []
        assert re.search(
            r'<button id="add-code" class="[^"]*\bdisabled\b[^"]*" type="submit" '
            r'aria-disabled="true">Add to cart<span class="visually-hidden"> Code: [^<]*: sold out',
            body,
        )
    else:
        assert "<html" in body  # the error page
    assert header_count(await (await client.get("/cart")).get_data(as_text=True)) == 0


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_adding_more_copies_than_are_left_is_a_422_that_says_how_many(
    client: Client, stock: Stock, htmx: bool
) -> None:
    await stock.set("code", 2, "test")
    asked = await add(client, "code", htmx=htmx, quantity="3")
    assert asked.status_code == 422
    body = await asked.get_data(as_text=True)
    assert "Only 2 left of this book: you asked for 3." in body
    if htmx:
        assert alerted(body) == "Only 2 left of this book: you asked for 3."
    assert (await add(client, "code", quantity="2")).status_code == 303
    again = await add(client, "code", htmx=htmx)
    body = await again.get_data(as_text=True)
    assert again.status_code == 422
    assert "Only 2 left of this book, and your cart already has 2." in body
    if htmx:
        # Not sold out: the button stays as it was, enabled.
        assert '<button id="add-code" class="btn btn-outline-primary btn-sm" type="submit">' in body
        assert alerted(body) == "Only 2 left of this book, and your cart already has 2."
    assert header_count(await (await client.get("/cart")).get_data(as_text=True)) == 2


async def test_a_book_not_counted_is_not_limited_but_by_the_carts_own_limits(
    client: Client, stock: Stock
) -> None:
    await stock.set("hackers", 1, "test")  # another book's count changes nothing here
    assert (await add(client, "code", quantity="10")).status_code == 303


async def test_a_line_asking_for_more_than_is_left_says_so_and_offers_to_take_what_is(
    client: Client, stock: Stock
) -> None:
    await add(client, "code", quantity="3")
    await add(client, "hackers")
    await stock.set("code", 2, "test")  # another shopper bought some meanwhile

    page = await (await client.get("/cart")).get_data(as_text=True)

    line = line_of(page, "code")
    assert re.search(r'<p class="stock [^"]*">Only 2 left: you asked for 3</p>', line)
    take = re.search(
        r'<form method="post" action="/cart/code" hx-post="/cart/code"[^>]*>.*?</form>', line, re.S
    )
    assert take, "the line offers the copies left"
    assert 'hx-target="#cart-summary"' in take[0]
    assert '<input type="hidden" name="quantity" value="2">' in take[0]
    assert (
        '<button id="take-code" class="btn btn-primary btn-sm" type="submit">Take 2'
        '<span class="visually-hidden"> copies of Code: The Hidden Language'
    ) in take[0]
    assert "stock" not in line_of(page, "hackers")  # not counted: nothing to say
    # The Checkout button stays: the pay step refuses what is short, and charges nothing.
    assert 'href="/checkout"' in page

    # Without JavaScript the Take form is a plain post: a 303 back to the cart, at 2 copies.
    taken = await post(client, "/cart/code", {"quantity": "2", "taken": "1"})
    assert (taken.status_code, taken.headers["Location"]) == (303, "/cart")
    page = await (await client.get("/cart")).get_data(as_text=True)
    assert "Only 2 left" not in page and 'id="take-code"' not in page
    assert '<option value="2" selected>' in line_of(page, "code")


async def test_taking_what_is_left_with_htmx_says_so_and_moves_the_focus_to_the_lines_title(
    client: Client, stock: Stock
) -> None:
    await add(client, "code", quantity="3")
    await stock.set("code", 2, "test")
    response = await post(client, "/cart/code", {"quantity": "2", "taken": "1"}, HTMX)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "cart:changed"
    assert said(body) == (
        "Code: The Hidden Language of Computer Hardware and Software: 2 copies. "
        "2 books in your cart, 58.00\xa0SGD."
    )
    # The Take button is gone: its line's title takes the focus, nothing else.
    assert [tag.split(" class")[0] for tag in focused(body)] == ['<h2 id="line-code"']
    assert 'id="take-code"' not in body and alerted(body) is None


async def test_a_quantity_chosen_beyond_what_is_left_is_said_with_what_is(
    client: Client, stock: Stock
) -> None:
    await add(client, "code")
    await stock.set("code", 2, "test")
    body = await (await post(client, "/cart/code", {"quantity": "3"}, HTMX)).get_data(as_text=True)
    assert said(body) == (
        "Code: The Hidden Language of Computer Hardware and Software: 3 copies. "
        "Only 2 left: you asked for 3. 3 books in your cart, 87.00\xa0SGD."
    )
    # The select and its Update button keep their ids (and the focus); Take is offered.
    assert 'id="quantity-code"' in body and 'id="update-code"' in body and 'id="take-code"' in body
    assert focused(body) == []


async def test_a_sold_out_line_says_so_and_offers_remove_only(client: Client, stock: Stock) -> None:
    await add(client, "code", quantity="2")
    await add(client, "hackers")
    await stock.set("code", 0, "test")

    page = await (await client.get("/cart")).get_data(as_text=True)

    line = line_of(page, "code")
    assert re.search(r'<p class="stock [^"]*">Sold out</p>', line)
    assert 'id="quantity-code"' not in line and 'id="take-code"' not in line
    assert re.search(
        r'<button class="btn btn-outline-primary btn-sm" type="submit"\s+'
        r'aria-label="Remove Code: [^"]* from your cart">Remove</button>',
        line,
    )
    assert 'href="/checkout"' in page  # Checkout stays (see the cart's Checkout button)
    removed = await post(client, "/cart/code/remove", {}, HTMX)
    body = await removed.get_data(as_text=True)
    assert said(body) == (
        "Removed Code: The Hidden Language of Computer Hardware and Software from your cart. "
        "1 book in your cart, 22.00\xa0SGD."
    )
    assert [tag.split(" class")[0] for tag in focused(body)] == ['<h2 id="line-hackers"']


async def test_a_line_that_sells_out_as_its_quantity_changes_focuses_its_title(
    client: Client, stock: Stock
) -> None:
    await add(client, "code")
    await stock.set("code", 0, "test")
    body = await (await post(client, "/cart/code", {"quantity": "2"}, HTMX)).get_data(as_text=True)
    # Its select and Update button are gone: the focus goes to the line, which says why.
    assert 'id="quantity-code"' not in body
    assert [tag.split(" class")[0] for tag in focused(body)] == ['<h2 id="line-code"']
    assert said(body) is not None and "Sold out." in said(body)  # type: ignore[operator]


async def test_the_cart_asks_for_the_stock_of_all_its_lines_at_once(
    client: Client, stock: Stock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for book_id in ("code", "hackers", "mythical-man-month"):
        await add(client, book_id)
    calls: list[list[str]] = []
    left = stock.left

    async def counted(book_ids: Iterable[str]) -> dict[str, int]:
        calls.append(list(book_ids))
        return await left(calls[-1])

    monkeypatch.setattr(stock, "left", counted)
    await client.get("/cart")
    assert calls == [["code", "hackers", "mythical-man-month"]]


async def test_copies_the_carts_own_checkout_holds_while_paying_are_left_to_it(
    client: Client, new_client: Client, stock: Stock
) -> None:
    for shopper in (client, new_client):
        await add(shopper, "code", quantity="2")
    await stock.set("code", 2, "test")
    await client.get("/checkout")  # opens the cart's checkout: its id in the session
    async with client.session_transaction() as session:
        checkout = session["checkouts"]["cart"]
        checkout["intent"] = "pi_paying"  # pressed Pay: 3D Secure under way, say
        session["checkouts"] = {"cart": checkout}
    await stock.reserve(checkout["id"], [("code", 2)], datetime.now(UTC) + timedelta(minutes=5))

    paying = await (await client.get("/cart")).get_data(as_text=True)
    other = await (await new_client.get("/cart")).get_data(as_text=True)

    assert "stock" not in line_of(paying, "code")  # paying again gives them back first
    assert re.search(r'<p class="stock [^"]*">Sold out</p>', line_of(other, "code"))
