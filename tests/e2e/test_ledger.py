"""The ledger agrees with what Stripe charged, whatever the shopper's tabs did, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.servers import RunningShop
from tests.e2e.shopper import NewShopper, Shopper
from tests.fixtures.app import delivered

pytestmark = pytest.mark.browser

BOOK, PRICE = "code", 2900


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """This module's journeys run on SQLite, then on PostgreSQL."""
    return shop_on_each_database


def test_two_tabs_the_ledger_ends_with_the_quantity_and_amount_stripe_charged(
    new_shopper: NewShopper, shop: RunningShop
) -> None:
    first = new_shopper()
    first.open_checkout(BOOK, quantity=2)
    # A second tab of the same browser (same session) changes the quantity to 5.
    second = Shopper(first.page.context.new_page(), shop, first.console)
    second.open_checkout(BOOK, quantity=5)
    assert second.intent_id() == first.intent_id()

    receipt = first.pay()  # the first tab still shows 2 copies

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".receipt-amount")).to_have_text(re.compile(r"^62\.00\s+SGD$"))
    intent = first.intent()
    assert intent.amount == intent.latest_charge.amount == delivered(2 * PRICE, 2)
    assert intent.metadata["lines_1"] == f"{BOOK}:2:{PRICE}"
    order = shop.order(intent.id)
    assert order is not None and (order.status, order.amount) == ("paid", delivered(2 * PRICE, 2))
    assert [(line.book_id, line.quantity) for line in order.lines] == [(BOOK, 2)]
    first.assert_console_clean()
