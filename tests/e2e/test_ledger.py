"""The ledger agrees with what Stripe charged, whatever the shopper's tabs did, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bookshop.orders import Ledger, Order
from tests.e2e.servers import RunningShop, running_shop
from tests.e2e.shopper import NewShopper, Shopper
from tests.fixtures.database import run_async

pytestmark = pytest.mark.browser

BOOK, PRICE = "code", 2900


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningShop]:
    """A shop of this test's own, its orders in SQLite, then in PostgreSQL."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with running_shop(tmp_path, database_url=url) as running:
        yield running


async def _order(database_url: str, intent_id: str) -> Order | None:
    ledger = Ledger(database_url)
    await ledger.open()
    try:
        return await ledger.get(intent_id)
    finally:
        await ledger.close()


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
    expect(receipt.locator(".receipt-amount")).to_have_text(re.compile(r"^58\.00\s+SGD$"))
    intent = first.intent()
    assert intent.amount == intent.latest_charge.amount == 2 * PRICE
    assert intent.metadata["quantity"] == "2"
    order = run_async(_order(shop.database_url, intent.id))
    assert order is not None
    assert (order.status, order.quantity, order.amount) == ("paid", 2, 2 * PRICE)
    first.assert_console_clean()
