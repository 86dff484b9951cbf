"""What a shopper sees of stock: a book with few copies left says so on the grid, a cart line
asking for more than are left offers what is, and paying for them sells them, on SQLite and
PostgreSQL. The shopkeeper counts books with `quart --app bookshop stock set`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from bookshop.database import Database
from bookshop.stock import Stock, StockLevel
from bookshop.stock.store import CACHE_SECONDS
from tests.e2e.servers import REPO_ROOT, RunningShop, shop_environment
from tests.e2e.shopper import NewShopper, Shopper
from tests.e2e.test_accessibility import axe_violations, describe
from tests.fixtures.database import run_async

pytestmark = pytest.mark.browser

CODE = "Code: The Hidden Language of Computer Hardware and Software"  # 29.00 SGD
HACKERS = "Hackers: Heroes of the Computer Revolution"  # 22.00 SGD
QUART = str(Path(sys.executable).with_name("quart"))
# How long the paid order may take to reach the ledger (the pay step's answer or the webhook).
SOLD_WITHIN_S = 30


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """A shop of this test's own (its counts must not reach other journeys), on SQLite, then on
    PostgreSQL."""
    return shop_on_each_database


def stock_set(shop: RunningShop, book_id: str, copies: int) -> None:
    """Count a book's copies as a shopkeeper does, then wait out the shop's cache of them."""
    env = shop_environment(_port(shop.url), _port(shop.sandbox.url), shop.database_url, workers=1)
    done = subprocess.run(
        [QUART, "--app", "bookshop", "stock", "set", book_id, str(copies)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Each shop process may show what it read up to this long ago.
    time.sleep(CACHE_SECONDS + 0.1)


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def level(shop: RunningShop, book_id: str) -> StockLevel:
    """A counted book's stock, read from the shop's database."""

    async def read() -> StockLevel:
        database = Database(shop.database_url)
        await database.open()
        try:
            (found,) = await Stock(database).levels(book_id)
            return found
        finally:
            await database.close()

    return run_async(read())


def test_a_shopper_told_only_2_are_left_takes_2_and_pays_for_them(
    shopper: Shopper, shop: RunningShop
) -> None:
    page = shopper.page
    stock_set(shop, "code", 5)
    shopper.open("/")
    page.get_by_role("button", name=f"Add to cart {CODE}").click()
    expect(page.get_by_role("button", name=f"Added ✓ {CODE} to your cart")).to_be_visible()
    shopper.open("/cart")
    line = page.locator('#cart-summary .cart-line[data-book="code"]')
    line.get_by_label("Quantity", exact=True).select_option("3")
    expect(line.locator(".line-total")).to_have_text("87.00 SGD")

    # Meanwhile others bought three: two are left.
    stock_set(shop, "code", 2)
    shopper.open("/")
    card = page.locator("article.book", has=page.get_by_role("link", name=CODE, exact=True))
    expect(card.locator(".stock")).to_have_text("Only 2 left")

    shopper.open("/cart")
    expect(line.locator(".stock")).to_have_text("Only 2 left: you asked for 3")
    line.get_by_role("button", name=f"Take 2 copies of {CODE}").click()
    expect(line.locator(".line-total")).to_have_text("58.00 SGD")
    expect(line.get_by_label("Quantity", exact=True)).to_have_value("2")
    expect(line.locator(".stock")).to_have_count(0)
    # Said aloud, and the keyboard's focus on the line (its Take button is gone).
    expect(page.locator("#live-status")).to_have_text(
        f"{CODE}: 2 copies. 2 books in your cart, 58.00 SGD."
    )
    expect(page.locator("#line-code")).to_be_focused()

    page.get_by_role("link", name="Checkout").click()
    shopper.wait_for_payment_element()
    expect(shopper.total).to_have_text("62.00 SGD")  # 2 x 29 + 3 + 1 delivery
    receipt = shopper.pay()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".order-line .line-quantity")).to_have_text(["2"])
    deadline = time.monotonic() + SOLD_WITHIN_S
    while (sold := level(shop, "code")).sold < 2:
        assert time.monotonic() < deadline, f"the stock is still {sold}"
        time.sleep(0.2)
    assert (sold.on_hand, sold.reserved, sold.sold) == (0, 0, 2)
    shopper.open("/books/code")
    expect(page.locator("main .stock")).to_have_text("Sold out")
    expect(page.get_by_role("button", name=f"Add to cart {CODE}: sold out")).to_be_disabled()
    shopper.assert_console_clean()


def test_sold_out_and_few_left_pass_axe_on_the_grid_the_cart_and_its_checkout(
    new_shopper: NewShopper, shop: RunningShop
) -> None:
    shopper = new_shopper(bypass_csp=True)  # axe-core's script is injected inline
    page = shopper.page
    shopper.open("/")
    for title in (CODE, HACKERS):
        page.get_by_role("button", name=f"Add to cart {title}").click()
        expect(page.get_by_role("button", name=f"Added ✓ {title} to your cart")).to_be_visible()
    shopper.open("/cart")
    hackers = page.locator('#cart-summary .cart-line[data-book="hackers"]')
    hackers.get_by_label("Quantity", exact=True).select_option("2")
    expect(hackers.locator(".line-total")).to_have_text("44.00 SGD")
    stock_set(shop, "code", 0)
    stock_set(shop, "hackers", 1)

    found: list[str] = []
    shopper.open("/")
    expect(page.locator("#book-grid .stock")).to_have_text(["Sold out", "Only 1 left"])
    found += describe("grid", axe_violations(shopper))
    shopper.open("/books/code")
    expect(page.get_by_role("button", name=f"Add to cart {CODE}: sold out")).to_be_disabled()
    found += describe("book page", axe_violations(shopper))
    shopper.open("/cart")
    expect(page.locator("#cart-summary .stock")).to_have_text(
        ["Sold out", "Only 1 left: you asked for 2"]
    )
    found += describe("cart", axe_violations(shopper))
    shopper.open("/checkout")
    shopper.wait_for_payment_element()
    expect(page.locator("#checkout-summary .stock")).to_have_count(2)
    found += describe("cart checkout", axe_violations(shopper))
    page.get_by_role("button", name=f"Remove {CODE} from your cart").click()
    expect(page.locator("#live-status")).to_contain_text(f"Removed {CODE} from your order.")
    expect(page.locator("#order-line-hackers")).to_be_focused()
    found += describe("line removed", axe_violations(shopper))

    assert not found, "axe-core violations:\n" + "\n".join(found)
    shopper.assert_console_clean()
