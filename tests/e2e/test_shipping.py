"""Journeys 11-12: where the books go and what delivery costs, from the address step to the
receipt, the ledger and Stripe's intent, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bookshop.address import Address
from tests.e2e.servers import RunningShop
from tests.e2e.shopper import DECLINE_FETCH, Shopper, fill_address
from tests.fixtures.app import SINGAPORE

pytestmark = pytest.mark.browser

KUALA_LUMPUR = {
    "name": "Siti Pembaca",
    "line1": "1 Jalan Ampang",
    "city": "Kuala Lumpur",
    "postal_code": "50450",
    "country": "MY",
}


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """This module's journeys run on SQLite, then on PostgreSQL."""
    return shop_on_each_database


def add(shopper: Shopper, book_id: str, copies: int = 1) -> None:
    """Put copies of a book in the cart from its checkout page's "Add to cart" button."""
    for _ in range(copies):
        shopper.page.request.post(
            f"{shopper.shop.url}/cart/add",
            form={"book_id": book_id, "csrf_token": csrf_of(shopper)},
            max_redirects=0,
        )


def csrf_of(shopper: Shopper) -> str:
    """The session's CSRF token, read off the cart page."""
    shopper.open("/cart")
    token = shopper.page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    return token


def test_two_books_to_singapore_pay_for_delivery_and_the_order_knows_where_they_go(
    shopper: Shopper, shop: RunningShop
) -> None:
    add(shopper, "code")
    add(shopper, "hackers")
    shopper.open("/checkout")
    shopper.wait_for_payment_element(SINGAPORE)
    summary = shopper.page.locator("#checkout-summary")
    expect(summary.locator(".subtotal")).to_have_text("51.00 SGD")
    expect(summary.locator(".shipping")).to_have_text("4.00 SGD")  # 3.00, and 1.00 the second
    expect(summary.locator(".total")).to_have_text("55.00 SGD")
    expect(shopper.element).to_have_attribute("data-amount", "5500")

    receipt = shopper.pay()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".order-shipping")).to_have_text("4.00 SGD")
    expect(receipt.locator(".receipt-amount")).to_have_text("55.00 SGD")
    expect(receipt.locator(".delivery-address")).to_contain_text("1 Straits View")
    intent = shopper.intent()
    assert intent.amount == 5500 and intent.metadata["shipping"] == "400"
    assert Address.from_stripe(intent.shipping.to_dict()) == Address(**SINGAPORE)
    # The card's billing address started in the country the books go to.
    method = shop.sandbox.client().v1.payment_methods.retrieve(intent.payment_method)
    assert method.billing_details.address.country == "SG"
    order = shop.order(intent.id)
    assert order is not None and (order.status, order.amount, order.shipping) == ("paid", 5500, 400)
    assert order.address == Address(**SINGAPORE)
    shopper.assert_console_clean()


def test_enough_books_ship_free_and_after_a_decline_a_new_address_reprices_the_same_intent(
    shopper: Shopper, shop: RunningShop
) -> None:
    add(shopper, "mythical-man-month", 5)  # 160.00 SGD of books
    shopper.open("/checkout")
    shopper.wait_for_payment_element(SINGAPORE)
    expect(shopper.page.locator("#checkout-summary .shipping")).to_have_text("Free")
    expect(shopper.element).to_have_attribute("data-amount", "16000")
    # A declined Pay makes the checkout's intent, priced for Singapore.
    declined = shopper.pay("4000 0000 0000 9995")
    expect(declined).to_have_attribute("data-outcome", "declined")
    intent_id = shopper.intent_id()
    assert shopper.intent().shipping.address.country == "SG"

    # Off to Malaysia instead: still free from 150, and the next Pay reprices the same intent.
    shopper.page.get_by_role("link", name="Change the address").click()
    fill_address(shopper.page, KUALA_LUMPUR)
    shopper.wait_for_payment_element(KUALA_LUMPUR)
    summary = shopper.page.locator("#checkout-summary")
    expect(summary.locator(".shipping")).to_have_text("Free")
    expect(summary.locator(".delivery-address")).to_contain_text("Kuala Lumpur 50450")
    expect(summary.locator(".delivery-address")).to_contain_text("Malaysia")
    expect(shopper.element).to_have_attribute("data-amount", "16000")

    receipt = shopper.pay()

    expect(receipt.locator(".order-shipping")).to_have_text("Free")
    expect(receipt.locator(".receipt-amount")).to_have_text("160.00 SGD")
    expect(receipt.locator(".delivery-address")).to_contain_text("Kuala Lumpur 50450")
    intent = shopper.intent()
    assert (intent.id, intent.amount, intent.metadata["shipping"]) == (intent_id, 16000, "0")
    order = shop.order(intent.id)
    assert order is not None and order.address is not None
    assert (order.status, order.shipping, order.amount) == ("paid", 0, 16000)
    assert (order.address.city, order.address.postal_code, order.address.country) == (
        "Kuala Lumpur",
        "50450",
        "MY",
    )
    # Stripe's intent ships where the shop checked: the new address, not Singapore.
    assert Address.from_stripe(intent.shipping.to_dict()) == order.address
    shopper.assert_console_clean(allow=(DECLINE_FETCH,))


def test_a_book_bought_now_asks_where_it_goes_then_charges_its_delivery(shopper: Shopper) -> None:
    shopper.open("/checkout/design-of-everyday-things")
    expect(shopper.page).to_have_url(re.compile(r"/checkout/address\?next="))
    shopper.wait_for_payment_element(SINGAPORE)
    expect(shopper.total).to_have_text("24.00 SGD")  # 21.00 + 3.00 delivery
    expect(shopper.element).to_have_attribute("data-amount", "2400")

    receipt = shopper.pay()

    expect(receipt.locator(".order-shipping")).to_have_text("3.00 SGD")
    expect(receipt.locator(".receipt-amount")).to_have_text("24.00 SGD")
    intent = shopper.intent()
    assert (intent.amount, intent.metadata["shipping"]) == (2400, "300")
    assert intent.metadata["lines_1"] == "design-of-everyday-things:1:2100"
    shopper.assert_console_clean()
