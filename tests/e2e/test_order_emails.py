"""The order a shopper holds on to, in Chromium on SQLite and PostgreSQL: pay, read the
confirmation with its number, open the email the sandbox caught and follow its link to the
order's page; once the shopkeeper marks it shipped, the shipping notice arrives and the page shows
the tracking number."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.servers import RunningShop
from tests.e2e.shopper import NewShopper
from tests.e2e.test_back_office import buy, open_order_of, paid_order, quart_command, sign_in
from tests.fixtures.staff import OWNER_EMAIL, PASSWORD

pytestmark = pytest.mark.browser

EMAIL = "ada.reader@example.com"
# The shop's sender delivers what the outbox holds every few seconds.
MAIL_WITHIN_S = 30


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """A shop of this test's own (its mail and staff stay in it), on SQLite, then PostgreSQL."""
    return shop_on_each_database


def open_caught_mail(page: Page, shop: RunningShop, subject: str) -> None:
    """Open the sandbox's dashboard and, from its Mail table, the message with this subject."""
    page.goto(f"{shop.sandbox.url}/")
    page.get_by_role("link", name=subject, exact=True).click()
    expect(page.get_by_role("heading", name="Links")).to_be_visible()


def test_the_confirmation_the_email_and_the_order_page_follow_the_order(
    new_shopper: NewShopper, shop: RunningShop
) -> None:
    ada = new_shopper()
    ada.open_checkout("code")
    buy(ada, EMAIL)
    order = paid_order(shop, ada)
    assert re.fullmatch(r"BK-[0-9A-Z]{6}", order.number)

    # The confirmation: thanks, the number, the email on its way, no card form left.
    page = ada.page
    expect(page.locator("h1#page-heading")).to_have_text("Thank you for your order")
    expect(page.locator("#receipt-heading")).to_have_text(f"Order {order.number}")
    expect(page.locator(".confirmation-email")).to_contain_text(EMAIL)
    expect(page.locator("#payment-element")).to_have_count(0)

    # The email the sandbox caught, and its link to the order's page.
    caught = shop.sandbox.wait_for_mail(1, timeout=MAIL_WITHIN_S)
    assert [message["subject"] for message in caught] == [f"Your order {order.number}"]
    assert caught[0]["rcpt_tos"] == [EMAIL]
    open_caught_mail(page, shop, f"Your order {order.number}")
    page.locator('a[rel="noopener noreferrer"][href*="/orders/"]').click()
    expect(page.locator("h1#page-heading")).to_have_text(f"Order {order.number}")
    expect(page.locator(".order-standing")).to_have_attribute("data-standing", "paid")
    order_page = page.url

    # The shopkeeper ships it; the shipping notice follows, and the page shows the tracking.
    quart_command(shop, "staff", "add", OWNER_EMAIL, "--owner", stdin=PASSWORD + "\n")
    staff = new_shopper()
    sign_in(staff.page, shop)
    open_order_of(staff.page, order.number)
    staff.page.get_by_label("Carrier").fill("SingPost")
    staff.page.get_by_label("Tracking number").fill("RR123456789SG")
    staff.page.get_by_role("button", name="Mark shipped").click()
    expect(staff.page.locator(".order-status .badge", has_text="shipped")).to_be_visible()

    caught = shop.sandbox.wait_for_mail(2, timeout=MAIL_WITHIN_S)
    notice = caught[0]
    assert notice["rcpt_tos"] == [EMAIL] and order.number in notice["subject"]
    assert "RR123456789SG" in notice["text"] and "SingPost" in notice["text"]
    page.goto(order_page)
    expect(page.locator(".order-standing")).to_have_attribute("data-standing", "shipped")
    expect(page.locator(".tracking-number")).to_have_text("RR123456789SG")
    for each in (ada, staff):
        each.assert_console_clean()
