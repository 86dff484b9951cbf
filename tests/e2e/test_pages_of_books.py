"""Journey 11: the grid a page at a time: plain links without JavaScript, "More books" appending in
place with htmx, and the pages of a search and of another order.

The shop here is this module's own: it holds the tests' 14 books and 100 generated ones (five pages
of 24), and the session's shop, whose 14 books fit on one page, stays as the other journeys expect.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from bookshop.catalog import PAGE_SIZE, Book, Catalog
from bookshop.catalog.books import read_toml
from bookshop.catalog.search import words
from bookshop.catalog.store import CACHE_SECONDS
from bookshop.database import Database
from tests.e2e.servers import RunningShop, running_shop
from tests.e2e.shopper import NewShopper, Shopper
from tests.fixtures.app import TEST_CATALOG
from tests.fixtures.catalogs import generated_books
from tests.fixtures.database import run_async

pytestmark = pytest.mark.browser

GENERATED = generated_books(100)
EVERY_BOOK: list[Book] = [*read_toml(TEST_CATALOG), *GENERATED]
PAGES = -(-len(EVERY_BOOK) // PAGE_SIZE)  # 114 books: four full pages and one of 18
# In the titles of a third of the generated books ("… : A Book of Cooking"): two pages of results.
WORD = "book"
PRICE = re.compile(r"(\d[\d,]*)\.(\d\d)")


def _add_books(database_url: str, books: list[Book]) -> None:
    async def write() -> None:
        database = Database(database_url)
        await database.open()
        try:
            await Catalog(database).write(books)
        finally:
            await database.close()

    run_async(write())


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    """A shop of this module's own, with five pages of books in its catalog."""
    with running_shop(tmp_path_factory.mktemp("e2e-pages-shop")) as running:
        _add_books(running.database_url, GENERATED)
        # The shop keeps what it read for CACHE_SECONDS: let anything it read at start expire.
        time.sleep(CACHE_SECONDS + 0.2)
        yield running


def shop_url(**params: object) -> re.Pattern[str]:
    """The shop's grid URL (or a link's) with these query parameters, in any order, among others."""
    wanted = "".join(
        rf"(?=(?:.*&)?{name}={re.escape(str(value))}(?:&|$))" for name, value in params.items()
    )
    return re.compile(rf"/\?{wanted}")


def cards(page: Page) -> Locator:
    """The books in the grid (assert their count with expect: the grid may still be swapping)."""
    return page.locator("#book-list .book")


def book_ids(page: Page) -> list[str]:
    """The ids of the books in the grid, in order, read from their title links."""
    hrefs = page.locator("#book-list .book .book-link").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))"
    )
    return [href.removeprefix("/books/") for href in hrefs]


def texts(page: Page, selector: str) -> list[str]:
    """The text of each element matching `selector` in the grid's cards, in order."""
    return page.locator(f"#book-list .book {selector}").all_inner_texts()


def prices(page: Page) -> list[int]:
    """The grid's prices in cents, in order ("29.00 SGD" is 2900)."""
    found = []
    for text in texts(page, ".price"):
        match = PRICE.search(text)
        assert match, f"no price in {text!r}"
        found.append(int(match[1].replace(",", "")) * 100 + int(match[2]))
    return found


def more_books(page: Page) -> Locator:
    """The "More books" link under the grid."""
    return page.locator("#book-pages").get_by_role("link", name="More books")


def previous_page(page: Page) -> Locator:
    """The "Previous page" link under the grid."""
    return page.locator("#book-pages").get_by_role("link", name="Previous page")


def matches_word(book: Book, word: str) -> bool:
    """True when a word of the book's title or author begins with `word` (as the search does)."""
    return any(found.startswith(word) for found in words(f"{book.title} {book.author}"))


def watch_page_loads(page: Page) -> list[str]:
    """Mark this document (a page load loses the mark) and collect the URL of each later load."""
    page.evaluate("window.e2eMark = 'same document'")
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    return loads


def assert_same_document(page: Page, loads: list[str]) -> None:
    assert page.evaluate("window.e2eMark") == "same document", "a full page load happened"
    assert loads == [], f"pages were loaded: {loads}"


def test_without_javascript_the_pages_are_plain_links_from_first_to_last(
    new_shopper: NewShopper,
) -> None:
    shopper = new_shopper(java_script_enabled=False)
    page = shopper.page
    shopper.open("/")
    expect(cards(page)).to_have_count(PAGE_SIZE)
    first = book_ids(page)
    expect(more_books(page)).to_have_attribute("rel", "next")
    expect(more_books(page)).to_have_attribute("href", "/?page=2")
    expect(previous_page(page)).to_have_count(0)
    expect(page.locator("link[rel=canonical]")).to_have_attribute("href", re.compile(r"/$"))

    with page.expect_navigation():
        more_books(page).click()
    expect(page).to_have_url(re.compile(r"/\?page=2$"))
    expect(cards(page)).to_have_count(PAGE_SIZE)
    second = book_ids(page)
    assert not set(first) & set(second), "page 2 repeats books of page 1"
    expect(previous_page(page)).to_have_attribute("rel", "prev")
    expect(previous_page(page)).to_have_attribute("href", "/")
    expect(page.locator("link[rel=canonical]")).to_have_attribute("href", re.compile(r"/\?page=2$"))
    expect(more_books(page)).to_have_attribute("href", "/?page=3")

    seen = first + second
    for number in range(3, PAGES + 1):
        with page.expect_navigation():
            more_books(page).click()
        expect(page).to_have_url(re.compile(rf"/\?page={number}$"))
        expect(previous_page(page)).to_have_attribute("href", f"/?page={number - 1}")
        seen += book_ids(page)
    # The last page: the rest of the books, and nothing after them.
    expect(cards(page)).to_have_count(len(EVERY_BOOK) - (PAGES - 1) * PAGE_SIZE)
    expect(more_books(page)).to_have_count(0)
    expect(page.locator("a[rel=next]")).to_have_count(0)
    assert sorted(seen) == sorted(book.id for book in EVERY_BOOK), "not every book, once each"

    with page.expect_navigation():
        previous_page(page).click()
    expect(page).to_have_url(re.compile(rf"/\?page={PAGES - 1}$"))
    assert book_ids(page) == seen[(PAGES - 2) * PAGE_SIZE : (PAGES - 1) * PAGE_SIZE]
    shopper.assert_console_clean()


def test_more_books_appends_the_next_page_in_place_and_replaces_the_url(
    shopper: Shopper,
) -> None:
    page = shopper.page
    shopper.open("/")
    expect(cards(page)).to_have_count(PAGE_SIZE)
    first = book_ids(page)
    history_length = page.evaluate("history.length")
    loads = watch_page_loads(page)

    more_books(page).click()

    expect(cards(page)).to_have_count(2 * PAGE_SIZE)
    expect(page).to_have_url(re.compile(r"/\?page=2$"))
    both = book_ids(page)
    assert both[:PAGE_SIZE] == first, "the first page's books changed"
    assert len(set(both)) == len(both), "a book is in the grid twice"
    # Replaced, not pushed: Back leaves the shop's grid, not half of it.
    assert page.evaluate("history.length") == history_length
    # The next page's nav came out of band: one nav, whose link asks for page 3.
    expect(page.locator("#book-pages")).to_have_count(1)
    expect(more_books(page)).to_have_attribute("href", "/?page=3")
    expect(previous_page(page)).to_have_count(0)
    assert_same_document(page, loads)

    # Loaded afresh, the URL shows page 2 alone.
    page.reload()
    expect(cards(page)).to_have_count(PAGE_SIZE)
    assert book_ids(page) == both[PAGE_SIZE:]
    expect(previous_page(page)).to_have_attribute("href", "/")
    shopper.assert_console_clean()


def test_more_books_until_the_end_shows_every_book_once(shopper: Shopper) -> None:
    page = shopper.page
    shopper.open("/")
    expect(cards(page)).to_have_count(PAGE_SIZE)
    loads = watch_page_loads(page)

    for number in range(2, PAGES + 1):
        more_books(page).click()
        expect(cards(page)).to_have_count(min(number * PAGE_SIZE, len(EVERY_BOOK)))
        expect(page).to_have_url(re.compile(rf"/\?page={number}$"))

    expect(more_books(page)).to_have_count(0)
    expect(page.locator("#book-pages")).to_have_count(1)
    ids = book_ids(page)
    assert len(ids) == len(set(ids)), "a book is in the grid twice"
    assert sorted(ids) == sorted(book.id for book in EVERY_BOOK), "not every book is in the grid"
    assert_same_document(page, loads)
    shopper.assert_console_clean()


def test_more_books_of_a_search_appends_more_matching_books_and_keeps_the_query(
    shopper: Shopper,
) -> None:
    matching = {book.id for book in EVERY_BOOK if matches_word(book, WORD)}
    assert PAGE_SIZE < len(matching) < 2 * PAGE_SIZE, "the word must match two pages of books"
    page = shopper.page
    shopper.open("/")
    expect(cards(page)).to_have_count(PAGE_SIZE)
    loads = watch_page_loads(page)

    page.locator("#search-q").fill(WORD)
    expect(page).to_have_url(shop_url(q=WORD))
    expect(more_books(page)).to_have_attribute("href", shop_url(q=WORD, page=2))
    expect(cards(page)).to_have_count(PAGE_SIZE)
    first = book_ids(page)

    more_books(page).click()

    expect(cards(page)).to_have_count(len(matching))
    expect(page).to_have_url(shop_url(q=WORD, page=2))
    ids = book_ids(page)
    assert ids[:PAGE_SIZE] == first, "the first page of results changed"
    assert len(set(ids)) == len(ids), "a book is in the results twice"
    assert set(ids) == matching
    for title, author in zip(
        texts(page, ".card-title"), texts(page, ".card-subtitle"), strict=True
    ):
        assert WORD in f"{title} {author}".casefold(), f"{title!r} by {author!r} does not match"
    expect(more_books(page)).to_have_count(0)
    expect(page.locator("#search-q")).to_have_value(WORD)
    assert_same_document(page, loads)
    shopper.assert_console_clean()


def test_sorted_by_price_the_grid_stays_in_price_order_across_an_appended_page(
    shopper: Shopper,
) -> None:
    cheapest = sorted(book.price for book in EVERY_BOOK)[: 2 * PAGE_SIZE]
    page = shopper.page
    shopper.open("/")
    expect(cards(page)).to_have_count(PAGE_SIZE)
    loads = watch_page_loads(page)

    page.locator("#search-sort").select_option("price")
    expect(page).to_have_url(shop_url(sort="price"))
    # The swapped grid's link asks for page 2 in the same order.
    expect(more_books(page)).to_have_attribute("href", shop_url(sort="price", page=2))
    assert prices(page) == cheapest[:PAGE_SIZE]

    more_books(page).click()

    expect(cards(page)).to_have_count(2 * PAGE_SIZE)
    expect(page).to_have_url(shop_url(sort="price", page=2))
    assert prices(page) == cheapest, "the prices are not in ascending order"
    ids = book_ids(page)
    assert len(set(ids)) == len(ids), "a book is in the grid twice"
    expect(page.locator("#search-sort")).to_have_value("price")
    assert_same_document(page, loads)
    shopper.assert_console_clean()
