"""Journey 1: browsing and searching swap the grid in place, with history that works."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.shopper import Shopper

pytestmark = pytest.mark.browser

ALL_BOOKS = 14


def titles(shopper: Shopper) -> Locator:
    """The titles in the grid, in order (assert with expect: the grid may still be swapping)."""
    return shopper.page.locator("#book-grid .card-title")


def test_search_swaps_the_grid_without_a_page_load_and_pushes_the_url(shopper: Shopper) -> None:
    shopper.open("/")
    expect(shopper.page.locator("#book-grid .book")).to_have_count(ALL_BOOKS)
    # A full page load would start a new window object and lose this mark.
    shopper.page.evaluate("window.e2eMark = 'same document'")
    history_length = shopper.page.evaluate("history.length")
    navigations: list[str] = []
    shopper.page.on("load", lambda page: navigations.append(page.url))

    # One input event (like a paste): key-by-key typing on a loaded machine can outlast the
    # 300 ms debounce between keys and push a step per fragment, which is right but not countable.
    shopper.page.locator("#search-q").fill("machine")

    expect(shopper.page).to_have_url(re.compile(r"/\?q=machine$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(2)
    # Ranked: the shorter title, where "machine" weighs more, first.
    expect(titles(shopper)).to_have_text(["The Dream Machine", "The Soul of a New Machine"])
    expect(shopper.page.locator("#live-status")).to_have_text("2 books matching “machine”.")
    assert shopper.page.evaluate("window.e2eMark") == "same document"
    assert navigations == []
    # Pushed, not replaced: the search is a step that Back undoes.
    assert shopper.page.evaluate("history.length") == history_length + 1
    shopper.assert_console_clean()


def test_back_and_forward_restore_the_matching_results(shopper: Shopper) -> None:
    shopper.open("/")
    search = shopper.page.locator("#search-q")
    search.fill("machine")
    expect(shopper.page).to_have_url(re.compile(r"/\?q=machine$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(2)
    search.fill("hamming")
    expect(shopper.page).to_have_url(re.compile(r"/\?q=hamming$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(1)

    shopper.page.go_back()
    expect(shopper.page).to_have_url(re.compile(r"/\?q=machine$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(2)
    expect(shopper.page.locator("#search-q")).to_have_value("machine")

    shopper.page.go_back()
    expect(shopper.page).to_have_url(re.compile(r"/$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(ALL_BOOKS)

    shopper.page.go_forward()
    expect(shopper.page).to_have_url(re.compile(r"/\?q=machine$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(2)

    shopper.page.go_forward()
    expect(shopper.page).to_have_url(re.compile(r"/\?q=hamming$"))
    expect(titles(shopper)).to_have_text(["The Art of Doing Science and Engineering"])
    shopper.assert_console_clean()


def test_a_search_with_no_result_offers_to_clear_it(shopper: Shopper) -> None:
    shopper.open("/")
    shopper.page.locator("#search-q").fill("no such book anywhere")

    empty = shopper.page.locator("#book-grid .empty-result")
    expect(empty).to_contain_text("No books match “no such book anywhere”")
    expect(shopper.page.locator("#live-status")).to_have_text(
        "No books match “no such book anywhere”."
    )
    empty.get_by_role("link", name="Clear the search").click()

    expect(shopper.page).to_have_url(re.compile(r"/$"))
    expect(shopper.page.locator("#book-grid .book")).to_have_count(ALL_BOOKS)
    expect(shopper.page.locator("#search-q")).to_have_value("")
    shopper.assert_console_clean()
