"""Journey 7: with JavaScript off, every step up to paying works with plain forms and links."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.shopper import NewShopper, fill_address

pytestmark = pytest.mark.browser


def test_browse_search_checkout_and_quantity_work_with_full_page_loads_and_ask_stripe_nothing(
    new_shopper: NewShopper,
) -> None:
    shopper = new_shopper(java_script_enabled=False)
    page = shopper.page
    before = shopper.intent_ids()
    shopper.open("/")
    expect(page.locator("#book-grid .book")).to_have_count(14)

    with page.expect_navigation():
        page.locator("#search-q").fill("machine")
        page.locator("#search-q").press("Enter")

    # A plain GET form: the sort select goes along, empty for the default order.
    expect(page).to_have_url(re.compile(r"/\?q=machine&sort=$"))
    expect(page.locator("#book-grid .book")).to_have_count(2)
    expect(page).to_have_title("\u201cmachine\u201d \u2013 Bookshop")

    with page.expect_navigation():
        page.get_by_role("link", name="Buy now The Soul of a New Machine").click()

    # Where the books go comes first, a plain form; then on to the book's checkout.
    fill_address(page, javascript=False)
    expect(page).to_have_url(re.compile(r"/checkout/soul-of-a-new-machine\?quantity=1$"))
    total = page.locator("#checkout-summary .total")
    expect(total).to_have_text("22.00 SGD")  # 19 + 3 delivery

    page.locator("#quantity").select_option("3")
    with page.expect_navigation():
        page.get_by_role("button", name="Update").click()

    # The plain form posts, and the 303 lands on the page for the new quantity.
    expect(page).to_have_url(re.compile(r"/checkout/soul-of-a-new-machine\?quantity=3$"))
    expect(total).to_have_text("62.00 SGD")  # 57 + 3 + 2 x 1 delivery
    expect(page.locator("#quantity")).to_have_value("3")

    # Playwright's text matching skips <noscript>, so the message is found by its markup.
    explanation = page.locator("#payment noscript .alert")
    expect(explanation).to_be_visible()
    expect(explanation).to_contain_text("Card payment needs JavaScript")
    expect(page.locator("#payment-form")).to_be_hidden()
    expect(page.locator("iframe")).to_have_count(0)
    # The checkout's page views and its quantity change made no PaymentIntent.
    assert shopper.intent_ids() == before
    shopper.assert_console_clean()
