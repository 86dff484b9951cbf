"""Journey 8: on a phone-sized screen the purchase works and no page scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.shopper import VISA, NewShopper, fill_address

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def test_a_purchase_on_a_phone_works_and_nothing_overflows(new_shopper: NewShopper) -> None:
    shopper = new_shopper(viewport=PHONE, is_mobile=True, has_touch=True)
    page = shopper.page
    shopper.open("/")
    expect(page.locator("#book-grid .book")).to_have_count(14)
    assert not shopper.overflows_horizontally(), "the shop scrolls sideways"

    page.get_by_role("link", name="Buy now The Design of Everyday Things").tap()
    expect(page.locator("form.address-form")).to_be_visible()
    assert not shopper.overflows_horizontally(), "the address step scrolls sideways"
    fill_address(page)
    expect(page.locator("#checkout-summary .total")).to_have_text("24.00 SGD")  # 21 + 3 delivery
    shopper.wait_for_payment_element()
    assert not shopper.overflows_horizontally(), "the checkout scrolls sideways"
    frame_box = page.locator("#payment-element iframe").bounding_box()
    assert frame_box is not None
    assert frame_box["x"] >= 0 and frame_box["x"] + frame_box["width"] <= PHONE["width"]

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".charge-id")).to_have_text(shopper.intent().latest_charge.id)
    assert not shopper.overflows_horizontally(), "the receipt scrolls sideways"
    shopper.page.reload()
    expect(page.locator(".receipt")).to_be_visible()
    assert not shopper.overflows_horizontally(), "the receipt page scrolls sideways"
    shopper.assert_console_clean()
