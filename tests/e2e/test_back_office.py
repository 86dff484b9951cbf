"""The shopkeeper's day in the back office, in Chromium, on SQLite and PostgreSQL: the first
account made at the terminal, a sign-in, a paid order found by email and one of its lines
refunded, another found by its number as the shopper read it out and marked shipped, each seen on
its shopper's order page, a price changed and seen on the shop, and a shopper's cookie that opens
nothing."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from bookshop.orders.schema import Order
from tests.e2e.servers import REPO_ROOT, RunningShop, shop_environment
from tests.e2e.shopper import VISA, NewShopper, Shopper
from tests.fixtures.staff import OWNER_EMAIL, PASSWORD

pytestmark = pytest.mark.browser

CODE = "Code: The Hidden Language of Computer Hardware and Software"  # 29.00 SGD
HACKERS = "Hackers: Heroes of the Computer Revolution"  # 22.00 SGD
QUART = str(Path(sys.executable).with_name("quart"))
# How long a paid order may take to reach the ledger (the pay step's answer or the webhook).
RECORDED_WITHIN_S = 30


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """A shop of this test's own (its accounts, refunds and prices stay in it), on SQLite, then
    on PostgreSQL."""
    return shop_on_each_database


def quart_command(shop: RunningShop, *args: str, stdin: str = "") -> str:
    """Run `quart --app bookshop ...` against the shop's database, as its keeper would."""
    ports = [urlsplit(url).port or 0 for url in (shop.url, shop.sandbox.url)]
    done = subprocess.run(
        [QUART, "--app", "bookshop", *args],
        cwd=REPO_ROOT,
        env=shop_environment(ports[0], ports[1], shop.database_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def paid_order(shop: RunningShop, shopper: Shopper) -> Order:
    """The shopper's order once the ledger has it paid."""
    intent_id = shopper.intent_id()
    deadline = time.monotonic() + RECORDED_WITHIN_S
    while (order := shop.order(intent_id)) is None or order.status != "paid":
        assert time.monotonic() < deadline, f"{intent_id} is not paid in the ledger: {order}"
        time.sleep(0.2)
    return order


def buy(shopper: Shopper, email: str) -> None:
    """Pay for the checkout on screen with the Visa test card, the receipt going to `email`."""
    shopper.fill_card(VISA, email=email)
    shopper.start_paying()
    expect(shopper.outcome()).to_have_attribute("data-outcome", "succeeded")


def sign_in(page: Page, shop: RunningShop) -> None:
    page.goto(f"{shop.url}/admin")
    expect(page.get_by_role("heading", name="Sign in to the back office")).to_be_visible()
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1#page-heading")).to_have_text("Today")


def open_order_of(page: Page, email: str) -> None:
    """Find an order by its shopper's email on the orders page, and open it."""
    page.get_by_role("navigation", name="Back office").get_by_role("link", name="Orders").click()
    page.get_by_label("Search by email, order number or payment id").fill(email)
    rows = page.locator("tr.order-row")
    expect(rows).to_have_count(1)  # htmx swapped the table as the search was typed
    rows.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("^Order BK-"))).to_be_visible()


def test_the_owner_refunds_a_line_ships_an_order_and_changes_a_price(
    new_shopper: NewShopper, shop: RunningShop
) -> None:
    added = quart_command(shop, "staff", "add", OWNER_EMAIL, "--owner", stdin=PASSWORD + "\n")
    assert PASSWORD not in added

    alice = new_shopper()
    alice.open("/")
    for title in (CODE, HACKERS):
        alice.page.get_by_role("button", name=f"Add to cart {title}").click()
        expect(
            alice.page.get_by_role("button", name=f"Added ✓ {title} to your cart")
        ).to_be_visible()
    alice.open("/cart")
    alice.page.get_by_role("link", name="Checkout").click()
    alice.wait_for_payment_element()
    buy(alice, "alice.reader@example.com")
    alices = paid_order(shop, alice)
    bob = new_shopper()
    bob.open_checkout("code")
    buy(bob, "bob.reader@example.com")
    bobs = paid_order(shop, bob)
    # The number Bob notes down from his confirmation is the ledger's.
    expect(bob.page.locator("#receipt-heading")).to_have_text(f"Order {bobs.number}")

    staff = new_shopper()
    page = staff.page
    sign_in(page, shop)

    # Alice's copy of Hackers came damaged: refund that line, and the copy goes back in stock.
    open_order_of(page, "alice.reader@example.com")
    actions = page.locator("#order-actions")
    actions.get_by_label(HACKERS, exact=True).check()
    actions.get_by_label("Put the refunded copies back in stock").check()
    actions.get_by_label("Reason").fill("Arrived damaged")
    actions.get_by_role("button", name="Refund…").click()
    expect(actions.locator(".refund-question")).to_have_text(
        "Refund 22.00 SGD of 55.00 SGD to Visa •••• 4242?"
    )
    actions.get_by_role("button", name="Refund 22.00 SGD").click()
    expect(page.locator(".order-refunded")).to_have_text("22.00 SGD")
    expect(page.locator(".order-refunded-of")).to_have_text("Refunded 22.00 SGD of 55.00 SGD")
    refunded = shop.order(alices.intent_id)
    assert refunded is not None and (refunded.status, refunded.amount_refunded) == ("paid", 2200)
    charge = alice.charges(alices.intent_id)[0]
    assert charge.amount_refunded == 2200 and not charge.refunded

    # Bob's parcel left: found by the number he reads out, as typed, and marked shipped.
    open_order_of(page, "bk " + bobs.number.removeprefix("BK-").lower())
    expect(page.locator("h1#page-heading")).to_have_text(f"Order {bobs.number}")
    page.get_by_label("Carrier").fill("SingPost")
    page.get_by_label("Tracking number").fill("RR123456789SG")
    page.get_by_role("button", name="Mark shipped").click()
    expect(page.locator(".order-status .badge", has_text="shipped")).to_be_visible()
    shipped = shop.order(bobs.intent_id)
    assert shipped is not None and (shipped.carrier, shipped.tracking_number) == (
        "SingPost",
        "RR123456789SG",
    )

    # Each shopper's order page, from the link on their confirmation, says what happened.
    alice.page.get_by_role("link", name="Your order's page").click()
    expect(alice.page.locator("h1#page-heading")).to_have_text(f"Order {alices.number}")
    expect(alice.page.locator(".order-partly-refunded")).to_have_text(
        "Partly refunded: 22.00 SGD went back to your card."
    )
    bob.page.get_by_role("link", name="Your order's page").click()
    expect(bob.page.locator(".order-standing")).to_have_text(
        re.compile(r"^Shipped on .* SingPost$")
    )
    expect(bob.page.locator(".tracking-number")).to_have_text("RR123456789SG")

    # A new price for Code, on the shop within seconds.
    page.get_by_role("navigation", name="Back office").get_by_role("link", name="Catalog").click()
    page.get_by_role("link", name=CODE).click()
    page.get_by_label(re.compile("^Price")).fill("31.50")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#book-editor [role=status]")).to_have_text(
        "Changes saved: the shop shows them now."
    )
    bob.open("/books/code")
    expect(bob.page.locator("main .price").first).to_have_text("31.50 SGD")

    # A shopper's cookie opens nothing: the back office asks for a sign-in.
    alice.open("/admin/orders")
    expect(alice.page.get_by_role("heading", name="Sign in to the back office")).to_be_visible()
    for each in (alice, bob, staff):
        each.assert_console_clean()
