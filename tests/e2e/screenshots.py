"""`make screenshots`: photograph the shop, the cart, its checkout, a decline, a receipt and the
back office's orders page."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import click
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

from bookshop.admin.accounts import Accounts
from bookshop.admin.audit import TERMINAL, Actor
from bookshop.admin.schema import OWNER
from bookshop.database import Database
from tests.e2e.servers import REPO_ROOT, running_shop
from tests.e2e.shopper import VISA, Shopper
from tests.fixtures.app import SINGAPORE
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, DEFAULT_TIMEOUT_MS
from tests.fixtures.database import run_async
from tests.fixtures.staff import OWNER_EMAIL, PASSWORD

OUTPUT = REPO_ROOT / "docs" / "screenshots"
# Wide enough for the checkout's two columns, short enough to keep each PNG small.
VIEWPORT: ViewportSize = {"width": 1200, "height": 800}
# The cart photographed: two copies of one book, one of another.
CART = (("The Art of Doing Science and Engineering", 2), ("The Mythical Man-Month", 1))
DECLINED_CARD = "4000 0000 0000 9995"  # insufficient funds


def take_screenshots(output: Path = OUTPUT) -> list[Path]:
    """Start the shop and sandbox, save the screenshots under `output`, stop everything."""
    output.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with (
        tempfile.TemporaryDirectory(prefix="bookshop-screenshots-") as workdir,
        running_shop(Path(workdir)) as shop,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.set_default_timeout(DEFAULT_TIMEOUT_MS)
            shopper = Shopper(page, shop)

            def save(name: str, full_page: bool = True, of: Page | None = None) -> None:
                path = output / f"{name}.png"
                (of or page).screenshot(
                    path=str(path), full_page=full_page, animations="disabled", caret="hide"
                )
                saved.append(path)

            shopper.open("/")
            expect(page.locator("#book-grid .book").first).to_be_visible()
            page.evaluate("document.fonts.ready")
            save("shop", full_page=False)  # the first rows say enough

            cart_count = page.locator("#cart-count")
            added = 0
            for title, copies in CART:
                # Pressed again, the "Added" button adds another copy.
                button = page.get_by_role(
                    "button", name=re.compile(f"^(Add to cart|Added ✓) {title}")
                )
                for _ in range(copies):
                    button.click()
                    added += 1
                    expect(cart_count).to_have_text(re.compile(f"^{added} books?"))

            shopper.open("/cart")
            save("cart")

            page.get_by_role("link", name="Checkout").click()
            page.get_by_label("Country").select_option("SG")
            expect(page.locator('form.address-form[data-country="SG"]')).to_have_count(1)
            for name, value in SINGAPORE.items():
                if value and name != "country":
                    page.locator(f"#address-{name}").fill(value)
            save("address")
            page.get_by_role("button", name="Continue to payment").click()
            shopper.wait_for_payment_element()
            shopper.fill_card(VISA)
            save("checkout")

            expect(shopper.pay(DECLINED_CARD)).to_have_attribute("data-outcome", "declined")
            save("decline")

            expect(shopper.pay(VISA)).to_have_attribute("data-outcome", "succeeded")
            save("receipt")

            # The back office, as the shop's owner sees it after a sale.
            run_async(add_owner(shop.database_url))
            staff = browser.new_context(viewport=VIEWPORT).new_page()
            staff.set_default_timeout(DEFAULT_TIMEOUT_MS)
            staff.goto(f"{shop.url}/admin/orders")
            staff.get_by_label("Email").fill(OWNER_EMAIL)
            staff.get_by_label("Password").fill(PASSWORD)
            staff.get_by_role("button", name="Sign in").click()
            expect(staff.locator("tr.order-row").first).to_be_visible()
            save("admin-orders", full_page=False, of=staff)
        finally:
            browser.close()
    return saved


async def add_owner(database_url: str) -> None:
    """The owner's account, as `quart --app bookshop staff add --owner` makes it."""
    database = Database(database_url)
    await database.open()
    try:
        await Accounts(database).add(OWNER_EMAIL, PASSWORD, OWNER, Actor(TERMINAL))
    finally:
        await database.close()


def main() -> int:
    """Take the screenshots and say where they went."""
    if not CHROMIUM.exists():
        click.echo(f"{CHROMIUM} is missing: run `make browser` or `apt-get install chromium`")
        return 1
    for path in take_screenshots():
        click.echo(f"saved {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
