"""The shop front: grid, search (fragment and page), covers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart

from bookshop.catalog import PAGE_SIZE
from bookshop.stock import Stock
from tests.fixtures.app import BOOKS, HTMX, Client
from tests.fixtures.catalogs import generated_books
from tests.fixtures.live import focused, said


async def test_shop_page_lists_the_catalog_with_the_starters_books_and_prices(
    client: Client,
) -> None:
    response = await client.get("/")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.count('class="card h-100 book"') >= 12
    for title, price in [
        ("The Art of Doing Science and Engineering", "23.00\xa0SGD"),
        ("The Making of Prince of Persia: Journals 1985-1993", "25.00\xa0SGD"),
        ("Working in Public: The Making and Maintenance of Open Source", "28.00\xa0SGD"),
    ]:
        card = body[body.index(title) :]
        assert price in card[: card.index("</article>")]


async def test_plain_search_returns_the_full_page_with_matches_only(
    client: Client,
) -> None:
    response = await client.get("/?q=hamming")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    assert "The Art of Doing Science and Engineering" in body
    assert "Working in Public" not in body
    assert "HX-Request" in response.headers["Vary"]


async def test_htmx_search_returns_only_the_grid_fragment(client: Client) -> None:
    response = await client.get("/?q=EGHBAL", headers=HTMX)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and "<header" not in body
    assert "Working in Public" in body
    assert "Hamming" not in body
    assert 'hx-swap-oob="innerHTML"' in body  # the live result count travels with it
    assert "HX-Request" in response.headers["Vary"]


async def test_history_restore_gets_the_full_page(client: Client) -> None:
    response = await client.get(
        "/?q=brooks", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    body = await response.get_data(as_text=True)
    assert "<html" in body
    assert "The Mythical Man-Month" in body
    assert "HX-Request" in response.headers["Vary"]


async def test_search_matches_title_or_author_case_insensitively(
    client: Client,
) -> None:
    by_title = await (await client.get("/?q=mythical", headers=HTMX)).get_data(as_text=True)
    by_author = await (await client.get("/?q=KIDDER", headers=HTMX)).get_data(as_text=True)
    assert "The Mythical Man-Month" in by_title
    assert "The Soul of a New Machine" in by_author


async def test_empty_result_says_so_and_offers_to_clear(client: Client) -> None:
    for headers in ({}, HTMX):
        response = await client.get("/?q=zzzz-no-such-book", headers=headers)
        body = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert "No books match" in body
        assert "Clear the search" in body


async def test_overlong_search_is_a_readable_400_on_both_paths(
    client: Client,
) -> None:
    plain = await client.get("/?q=" + "a" * 101)
    fragment = await client.get("/?q=" + "a" * 101, headers=HTMX)
    assert plain.status_code == fragment.status_code == 400
    assert "<html" in await plain.get_data(as_text=True)
    fragment_body = await fragment.get_data(as_text=True)
    assert "<html" not in fragment_body
    assert "at most 100 characters" in fragment_body


async def test_search_terms_are_escaped(client: Client) -> None:
    body = await (await client.get("/?q=<script>x</script>")).get_data(as_text=True)
    assert "<script>x</script>" not in body
    assert "&lt;script&gt;" in body


async def test_cover_is_a_generated_svg(client: Client) -> None:
    response = await client.get("/covers/working-in-public.svg")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type.startswith("image/svg+xml")
    assert body.startswith("<svg") and "Working in" in body


async def test_unknown_cover_is_404(client: Client) -> None:
    assert (await client.get("/covers/nope.svg")).status_code == 404


@pytest.mark.parametrize("headers", [{}, HTMX])
async def test_a_book_has_a_page_of_its_own_on_both_paths(
    client: Client, headers: dict[str, str]
) -> None:
    # No fragment of its own: htmx gets the whole page too.
    response = await client.get("/books/working-in-public", headers=headers)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    main = body[body.index("<main") :]
    assert (
        '<h1 class="h3">Working in Public: The Making and Maintenance of Open Source</h1>' in main
    )
    assert "by Nadia Eghbal" in main
    assert "Who builds open source software, who maintains it" in main
    assert "28.00\xa0SGD" in main
    assert 'src="/covers/working-in-public.svg"' in main
    assert 'alt="Cover of Working in Public' in main
    assert 'action="/cart/add"' in main and 'name="book_id" value="working-in-public"' in main
    assert 'href="/checkout/working-in-public"' in main
    # The shop does not count this book: the page claims nothing about its stock.
    assert "stock" not in main.lower()


async def test_a_book_page_adds_to_the_cart_like_the_grid(client: Client) -> None:
    body = await (await client.get("/books/code")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert token
    added = await client.post(
        "/cart/add", form={"book_id": "code", "csrf_token": token[1]}, headers=HTMX
    )
    assert added.status_code == 200
    assert "Added ✓" in await added.get_data(as_text=True)


async def test_an_unknown_book_page_is_a_readable_404_on_both_paths(client: Client) -> None:
    plain = await client.get("/books/no-such-book")
    fragment = await client.get("/books/no-such-book", headers=HTMX)
    assert plain.status_code == fragment.status_code == 404
    assert "<html" in await plain.get_data(as_text=True)
    assert "sell that book" in await fragment.get_data(as_text=True)


async def test_the_grid_links_each_title_and_cover_to_the_book_page(client: Client) -> None:
    for headers in ({}, HTMX):
        body = await (await client.get("/?q=machine", headers=headers)).get_data(as_text=True)
        for book in ("soul-of-a-new-machine", "dream-machine"):
            links = re.findall(rf'<a [^>]*href="/books/{book}"[^>]*>', body)
            assert len(links) == 2, links
            # The cover's link repeats the title's: out of the tab order and the reading order.
            assert sum('tabindex="-1" aria-hidden="true"' in link for link in links) == 1
        assert 'href="/checkout/soul-of-a-new-machine"' in body  # "Buy now" stays


async def test_only_the_first_cover_is_fetched_eagerly(client: Client) -> None:
    body = await (await client.get("/")).get_data(as_text=True)
    covers = re.findall(r"<img [^>]*book-cover[^>]*>", body)
    assert len(covers) == 14
    assert 'fetchpriority="high"' in covers[0] and 'loading="lazy"' not in covers[0]
    assert all('loading="lazy"' in cover for cover in covers[1:])


@pytest.fixture
async def many_books(app: Quart) -> list[str]:
    """Sixty books more than the tests' catalog: three pages of the grid in all. Their ids, in
    the grid's order (by title, then id)."""
    more = generated_books(60)
    await app.extensions["catalog"].write(more)
    everything = [*BOOKS.values(), *more]
    return [book.id for book in sorted(everything, key=lambda book: (book.title, book.id))]


def card_ids(body: str) -> list[str]:
    """The ids of the books a grid (or a page of it) shows, in order."""
    return re.findall(r'<h2 class="h6 card-title"><a [^>]*href="/books/([^"]+)"', body)


async def test_the_grid_shows_24_books_a_page_with_plain_links_between_pages(
    client: Client, many_books: list[str]
) -> None:
    first = await (await client.get("/")).get_data(as_text=True)
    assert card_ids(first) == many_books[:PAGE_SIZE]
    assert '<a class="btn btn-outline-primary" href="/?page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    assert '<link rel="canonical" href="http://localhost/">' in first

    second = await (await client.get("/?page=2")).get_data(as_text=True)
    assert card_ids(second) == many_books[PAGE_SIZE : 2 * PAGE_SIZE]
    assert 'href="/" rel="prev"' in second and 'href="/?page=3" rel="next"' in second
    assert '<link rel="canonical" href="http://localhost/?page=2">' in second
    assert "<title>Page 2 \u2013 Bookshop</title>" in second

    last = await (await client.get("/?page=4")).get_data(as_text=True)
    assert card_ids(last) == many_books[3 * PAGE_SIZE :]
    assert 'rel="next"' not in last and 'href="/?page=3" rel="prev"' in last


async def test_more_books_for_htmx_is_the_next_pages_cards_and_the_nav_out_of_band(
    client: Client, many_books: list[str]
) -> None:
    first = await (await client.get("/", headers=HTMX)).get_data(as_text=True)
    assert 'hx-get="/?page=2" hx-target="#book-list" hx-swap="beforeend"' in first
    response = await client.get("/?page=2", headers=HTMX)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and 'id="book-list"' not in body
    assert body.lstrip().startswith("<li")
    assert card_ids(body) == many_books[PAGE_SIZE : 2 * PAGE_SIZE]
    # The nav below the grid now offers page 3, and no "Previous page" under a grid of both.
    nav = body[body.index('<nav id="book-pages"') :]
    assert 'hx-swap-oob="true"' in nav.split(">")[0]
    assert 'href="/?page=3"' in nav and 'rel="prev"' not in nav
    assert "HX-Request" in response.headers["Vary"]
    # A reload of the pushed URL (or a history restore) is page 2 as a whole page.
    restored = await client.get("/?page=2", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in await restored.get_data(as_text=True)


async def test_searching_and_sorting_page_the_same_way_and_keep_their_terms(
    client: Client, many_books: list[str]
) -> None:
    body = await (await client.get("/?q=the&sort=price")).get_data(as_text=True)
    shown = re.findall(r'<span class="price fw-semibold">([\d,.]+)\xa0SGD', body)
    prices = [float(price.replace(",", "")) for price in shown]
    assert 'href="/?page=2&amp;q=the&amp;sort=price" rel="next"' in body
    # Canonical: the grid's own page, whatever the search or order.
    assert '<link rel="canonical" href="http://localhost/">' in body
    assert len(card_ids(body)) == PAGE_SIZE
    assert len(prices) == PAGE_SIZE and prices == sorted(prices)
    select = body[body.index('<select class="form-select" id="search-sort"') :]
    assert '<option value="price" selected>' in select[: select.index("</select>")]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("page=0", 400, "whole number, 1 or more"),
        ("page=two", 400, "whole number, 1 or more"),
        ("page=1234567", 400, "whole number, 1 or more"),
        ("page=99", 404, "There is no page 99"),
        ("sort=cheapest", 400, "relevance, title, price, newest"),
    ],
)
async def test_a_page_or_order_the_grid_does_not_have_is_a_clear_error_on_both_paths(
    client: Client, query: str, status: int, message: str
) -> None:
    for headers in ({}, HTMX):
        response = await client.get(f"/?{query}", headers=headers)
        assert response.status_code == status
        assert message in await response.get_data(as_text=True)


async def test_a_search_with_no_words_finds_nothing_and_says_so(client: Client) -> None:
    body = await (await client.get("/?q=%25%25*")).get_data(as_text=True)
    assert card_ids(body) == []
    assert "No books match “%%*”" in body


async def test_an_isbn_with_hyphens_finds_its_book(client: Client, app: Quart) -> None:
    await app.extensions["catalog"].write([replace(BOOKS["code"], isbn="9780735611313")])
    body = await (await client.get("/?q=978-0-7356-1131-3", headers=HTMX)).get_data(as_text=True)
    assert card_ids(body) == ["code"]


async def test_an_htmx_search_says_how_many_books_it_found(client: Client) -> None:
    body = await (await client.get("/?q=machine", headers=HTMX)).get_data(as_text=True)
    assert said(body) == "2 books matching “machine”."
    empty = await (await client.get("/?q=zzzz", headers=HTMX)).get_data(as_text=True)
    assert said(empty) == "No books match “zzzz”."
    page = await (await client.get("/?q=machine")).get_data(as_text=True)
    assert said(page) is None and focused(page) == []


async def test_more_books_says_how_many_came_and_focuses_the_first_of_them(
    client: Client, many_books: list[str]
) -> None:
    body = await (await client.get("/?page=2", headers=HTMX)).get_data(as_text=True)
    assert said(body) == f"{PAGE_SIZE} more books."
    (tag,) = focused(body)
    assert tag.startswith('<a class="book-link') and f'href="/books/{many_books[PAGE_SIZE]}"' in tag
    last = await (await client.get("/?page=4", headers=HTMX)).get_data(as_text=True)
    assert said(last) == f"{len(many_books) - 3 * PAGE_SIZE} more books, to the end of the list."


# --- What is left of each book ------------------------------------------------------------------


def card(body: str, book_id: str) -> str:
    """One book's card in a grid (or a page of it)."""
    title = re.search(rf'<h2 class="h6 card-title"><a [^>]*href="/books/{book_id}"', body)
    assert title, f"the grid shows {book_id}"
    return body[title.start() : body.index("</article>", title.start())]


def stock_label(html: str) -> str | None:
    """What a card or a book's page says is left of the book, if anything."""
    found = re.search(r'<p class="stock [^"]*">([^<]*)</p>', html)
    return found[1] if found else None


@pytest.fixture
async def counted(app: Quart) -> Stock:
    """The shop's stock with three of the tests' books counted: plenty, two left, none."""
    stock: Stock = app.extensions["stock"]
    await stock.set("code", 12, "test")
    await stock.set("hackers", 2, "test")
    await stock.set("mythical-man-month", 0, "test")
    return stock


@pytest.mark.parametrize(
    ("url", "headers"),
    [("/", {}), ("/?q=the", {}), ("/?q=the", HTMX)],
    ids=["grid", "search", "htmx search"],
)
async def test_each_counted_book_in_the_grid_says_what_is_left_and_an_uncounted_one_nothing(
    client: Client, counted: Stock, url: str, headers: dict[str, str]
) -> None:
    body = await (await client.get(url, headers=headers)).get_data(as_text=True)
    assert stock_label(card(body, "code")) == "In stock"
    assert stock_label(card(body, "hackers")) == "Only 2 left"
    assert stock_label(card(body, "mythical-man-month")) == "Sold out"
    # Not counted, so not limited: nothing to say.
    assert stock_label(card(body, "soul-of-a-new-machine")) is None
    assert body.count('class="stock ') == 3


@pytest.mark.parametrize(
    ("on_hand", "label"), [(4, "In stock"), (3, "Only 3 left"), (1, "Only 1 left"), (0, "Sold out")]
)
async def test_a_book_page_says_what_is_left_of_it(
    client: Client, app: Quart, on_hand: int, label: str
) -> None:
    await app.extensions["stock"].set("code", on_hand, "test")
    for headers in ({}, HTMX):
        body = await (await client.get("/books/code", headers=headers)).get_data(as_text=True)
        assert stock_label(body[body.index("<main") :]) == label


async def test_copies_checkouts_hold_while_paying_are_not_left_to_others(
    client: Client, counted: Stock
) -> None:
    await counted.reserve(
        "another-shopper", [("hackers", 1)], datetime.now(UTC) + timedelta(minutes=5)
    )
    body = await (await client.get("/")).get_data(as_text=True)
    assert stock_label(card(body, "hackers")) == "Only 1 left"


async def test_a_sold_out_books_add_and_buy_now_are_disabled_with_the_reason_in_their_names(
    client: Client, counted: Stock
) -> None:
    title = BOOKS["mythical-man-month"].title
    grid = await (await client.get("/")).get_data(as_text=True)
    page = await (await client.get("/books/mythical-man-month")).get_data(as_text=True)
    for html in (card(grid, "mythical-man-month"), page[page.index("<main") :]):
        # A disabled button, on the plain path too: no JavaScript needed to keep it unpressed.
        assert re.search(
            r'<button id="add-mythical-man-month" [^>]*type="submit" disabled>Add to cart'
            rf'<span class="visually-hidden"> {re.escape(title)}: sold out</span></button>',
            html,
        )
        # "Buy now" is no link any more: no href to follow, its name says why.
        assert 'href="/checkout/mythical-man-month"' not in html
        assert (
            '<a class="btn btn-primary btn-sm disabled" role="link" aria-disabled="true">Buy now'
            f'<span class="visually-hidden"> {title}: sold out</span></a>'
        ) in html
        assert stock_label(html) == "Sold out"  # the reason, visible
    # Books with copies left keep both, enabled.
    assert 'id="add-hackers" class="btn btn-outline-primary btn-sm" type="submit">' in grid
    assert 'href="/checkout/hackers"' in grid


class LeftSpy:
    """`Stock.left`, counting its calls and the books each asked for."""

    def __init__(self, stock: Stock) -> None:
        self.left = stock.left
        self.calls: list[list[str]] = []

    async def __call__(self, book_ids: Iterable[str]) -> dict[str, int]:
        wanted = list(book_ids)
        self.calls.append(wanted)
        return await self.left(wanted)


@pytest.fixture
def left_calls(app: Quart, monkeypatch: pytest.MonkeyPatch) -> LeftSpy:
    """Every call the shop makes to its stock's `left`, from here on."""
    stock: Stock = app.extensions["stock"]
    spy = LeftSpy(stock)
    monkeypatch.setattr(stock, "left", spy)
    return spy


@pytest.mark.parametrize(
    ("url", "headers"),
    [("/", {}), ("/", HTMX), ("/?page=2", {}), ("/?page=2", HTMX), ("/?q=the", HTMX)],
)
async def test_a_page_of_the_grid_asks_for_the_stock_of_its_books_once(
    client: Client, many_books: list[str], left_calls: LeftSpy, url: str, headers: dict[str, str]
) -> None:
    await client.get("/cart")  # the session's first page: its token, out of the count
    left_calls.calls.clear()
    body = await (await client.get(url, headers=headers)).get_data(as_text=True)
    (asked,) = left_calls.calls
    assert asked == card_ids(body) and len(asked) == PAGE_SIZE


async def test_a_book_page_asks_for_its_books_stock_once(
    client: Client, left_calls: LeftSpy
) -> None:
    await client.get("/books/code")
    assert left_calls.calls == [["code"]]
