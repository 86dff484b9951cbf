"""Journeys 8-10: a cart of several books, one payment, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.servers import RunningShop
from tests.e2e.shopper import DECLINE_FETCH, NewShopper, Shopper

pytestmark = pytest.mark.browser

CODE, HACKERS, BROOKS = (
    "Code: The Hidden Language of Computer Hardware and Software",  # 29.00 SGD
    "Hackers: Heroes of the Computer Revolution",  # 22.00 SGD
    "The Mythical Man-Month",  # 32.00 SGD
)


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """This module's journeys run on SQLite, then on PostgreSQL."""
    return shop_on_each_database


def count(shopper: Shopper) -> Locator:
    """The header's cart count."""
    return shopper.page.locator("#cart-count")


def add_from_the_grid(shopper: Shopper, title: str) -> None:
    """Press a book's "Add to cart" in the grid and wait for its "Added" state."""
    shopper.page.get_by_role("button", name=f"Add to cart {title}").click()
    expect(shopper.page.get_by_role("button", name=f"Added ✓ {title} to your cart")).to_be_visible()


def line(shopper: Shopper, book_id: str) -> Locator:
    """One line of the cart page."""
    return shopper.page.locator(f'#cart-summary .cart-line[data-book="{book_id}"]')


def test_three_books_from_the_grid_to_one_payment_and_an_empty_cart(
    shopper: Shopper, shop: RunningShop
) -> None:
    page = shopper.page
    shopper.open("/")
    page.evaluate("window.e2eMark = 'same document'")  # a page load would lose it
    for number, title in enumerate((CODE, HACKERS, BROOKS), start=1):
        add_from_the_grid(shopper, title)
        expect(count(shopper)).to_have_text(re.compile(rf"^{number} books? in your cart$"))
    expect(page).to_have_url(re.compile(r"/$"))
    assert page.evaluate("window.e2eMark") == "same document"
    # Announced by screen readers through the page's polite live region.
    expect(page.locator("#live-status")).to_have_text(
        f"Added {BROOKS} to your cart. 3 books in your cart."
    )

    page.get_by_role("link", name=re.compile("^Cart")).click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    page.evaluate("window.e2eMark = 'cart page'")
    line(shopper, "code").get_by_label("Quantity", exact=True).select_option("2")
    expect(line(shopper, "code").locator(".line-total")).to_have_text("58.00 SGD")
    line(shopper, "hackers").get_by_role("button", name=re.compile("^Remove")).click()
    expect(line(shopper, "hackers")).to_have_count(0)
    total = page.locator("#cart-summary .total")
    expect(total).to_have_text("90.00 SGD")  # 2 x 29 + 32
    expect(count(shopper)).to_have_text(re.compile(r"^3 books"))
    assert page.evaluate("window.e2eMark") == "cart page"

    page.get_by_role("link", name="Checkout").click()
    shopper.wait_for_payment_element()
    expect(shopper.total).to_have_text("90.00 SGD")
    expect(shopper.element).to_have_attribute("data-amount", "9000")
    receipt = shopper.pay()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".order-line .line-title")).to_have_text([CODE, BROOKS])
    expect(receipt.locator(".receipt-amount")).to_have_text("90.00 SGD")
    expect(page.locator("#checkout-summary")).to_have_count(0)  # the confirmation replaced it
    expect(count(shopper)).to_have_text(re.compile(r"^0 books"))
    intent = shopper.intent()
    assert intent.amount == intent.latest_charge.amount == 9000
    order = shop.order(intent.id)
    assert order is not None and (order.status, order.amount) == ("paid", 9000)
    assert [(x.book_id, x.quantity, x.unit_price) for x in order.lines] == [
        ("code", 2, 2900),
        ("mythical-man-month", 1, 3200),
    ]
    shopper.open("/cart")
    expect(page.locator("#cart-summary")).to_contain_text("Your cart is empty.")
    shopper.assert_console_clean()


def test_the_cart_works_with_javascript_off_up_to_the_payment_step(
    new_shopper: NewShopper,
) -> None:
    shopper = new_shopper(java_script_enabled=False)
    page = shopper.page
    shopper.open("/")
    with page.expect_navigation():
        page.get_by_role("button", name=f"Add to cart {CODE}").click()
    expect(page).to_have_url(re.compile(r"/cart$"))  # the form's 303
    shopper.open("/?q=hackers")
    with page.expect_navigation():
        page.get_by_role("button", name=f"Add to cart {HACKERS}").click()
    expect(count(shopper)).to_have_text(re.compile(r"^2 books"))

    line(shopper, "code").get_by_label("Quantity", exact=True).select_option("3")
    with page.expect_navigation():
        line(shopper, "code").get_by_role("button", name=re.compile("^Update")).click()
    expect(line(shopper, "code").locator(".line-total")).to_have_text("87.00 SGD")
    with page.expect_navigation():
        line(shopper, "hackers").get_by_role("button", name=re.compile("^Remove")).click()
    expect(line(shopper, "hackers")).to_have_count(0)

    with page.expect_navigation():
        page.get_by_role("link", name="Checkout").click()
    # First where the books go: a plain form, checked on the server.
    expect(page).to_have_url(re.compile(r"/checkout/address\?next=/checkout$"))
    page.get_by_label("Country").select_option("GB")
    page.locator("#address-name").fill("Ada Reader")
    page.locator("#address-line1").fill("1 Book Street")
    page.locator("#address-city").fill("London")
    page.locator("#address-postal_code").fill("not a postcode")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to payment").click()
    postcode = page.locator("#address-postal_code")
    expect(postcode).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#address-postal_code-error")).to_contain_text("postal code")
    expect(page.locator("#address-name")).to_have_value("Ada Reader")  # the input is kept
    postcode.fill("n1 9gu")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to payment").click()

    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator("#checkout-summary .subtotal")).to_have_text("87.00 SGD")
    expect(page.locator("#checkout-summary .shipping")).to_have_text("28.00 SGD")  # 18 + 2 x 5
    expect(page.locator("#checkout-summary .total")).to_have_text("115.00 SGD")
    expect(page.locator("#checkout-summary .delivery-address")).to_contain_text("N1 9GU")
    explanation = page.locator("#payment noscript .alert")
    expect(explanation).to_contain_text("Card payment needs JavaScript")
    # The refused address came back as a 422, which Chromium logs.
    shopper.assert_console_clean(allow=(r"status of 422 .*/checkout/address",))


def test_a_decline_keeps_the_cart(shopper: Shopper) -> None:
    shopper.open("/")
    add_from_the_grid(shopper, HACKERS)
    shopper.open("/checkout")
    shopper.wait_for_payment_element()

    declined = shopper.pay("4000 0000 0000 9995")

    expect(declined).to_have_attribute("data-outcome", "declined")
    expect(count(shopper)).to_have_text(re.compile(r"^1 book in your cart"))
    shopper.open("/cart")
    expect(line(shopper, "hackers")).to_have_count(1)
    shopper.assert_console_clean(allow=(DECLINE_FETCH,))


def test_the_starters_buy_now_url_pays_one_book_on_its_own_and_leaves_the_cart_as_it_was(
    shopper: Shopper, shop: RunningShop
) -> None:
    page = shopper.page
    before = shopper.intent_ids()
    shopper.open("/")
    add_from_the_grid(shopper, CODE)
    add_from_the_grid(shopper, HACKERS)

    # The starter's link to one book's checkout: a 301 to buy now, then where it goes.
    shopper.open("/checkout?item=mythical-man-month")
    shopper.wait_for_payment_element()
    expect(page).to_have_url(re.compile(r"/checkout/mythical-man-month(\?quantity=1)?$"))
    expect(shopper.total).to_have_text("35.00 SGD")  # 32 + 3 delivery, none of the cart's books
    expect(shopper.element).to_have_attribute("data-amount", "3500")
    receipt = shopper.pay()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".order-line .line-title")).to_have_text([BROOKS])
    intent = shopper.intent()
    assert (intent.amount, intent.metadata["lines_1"]) == (3500, "mythical-man-month:1:3200")
    assert shopper.intent_ids() - before == {intent.id}
    order = shop.order(intent.id)
    assert order is not None and [(x.book_id, x.quantity) for x in order.lines] == [
        ("mythical-man-month", 1)
    ]
    expect(count(shopper)).to_have_text(re.compile(r"^2 books"))
    shopper.open("/cart")
    expect(line(shopper, "code")).to_have_count(1)
    expect(line(shopper, "hackers")).to_have_count(1)
    # The cart's own checkout still knows where the books go, and has made no intent yet.
    shopper.open("/checkout")
    shopper.wait_for_payment_element()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(shopper.total).to_have_text("55.00 SGD")  # 29 + 22 + 3 + 1 delivery
    assert shopper.intent_ids() - before == {intent.id}
    shopper.assert_console_clean()
