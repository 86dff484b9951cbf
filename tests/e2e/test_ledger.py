"""The ledger agrees with what Stripe charged, whatever the shopper's tabs did, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Response, expect

from bookshop.config import SANDBOX_WEBHOOK_SECRET
from tests.e2e.servers import REPO_ROOT, RunningShop, shop_environment
from tests.e2e.shopper import DECLINE_FETCH, PAY_STEP, VISA, NewShopper, Shopper
from tests.fixtures.app import delivered

pytestmark = pytest.mark.browser

BOOK, PRICE = "code", 2900
HACKERS = "Hackers: Heroes of the Computer Revolution"  # 22.00 SGD
DECLINED = "4000 0000 0000 9995"  # insufficient funds
WAIT_S = 15.0


@pytest.fixture
def shop(shop_on_each_database: RunningShop) -> RunningShop:
    """This module's journeys run on SQLite, then on PostgreSQL."""
    return shop_on_each_database


def test_two_tabs_create_no_intent_until_pay_and_the_ledger_ends_with_what_stripe_charged(
    new_shopper: NewShopper, shop: RunningShop
) -> None:
    first = new_shopper()
    before = first.intent_ids()
    first.open_checkout(BOOK, quantity=2)
    # A second tab of the same browser (same session) shows 5 copies.
    second = Shopper(first.page.context.new_page(), shop, first.console)
    second.open_checkout(BOOK, quantity=5)
    expect(second.element).to_have_attribute("data-amount", str(delivered(5 * PRICE, 5)))
    expect(first.element).to_have_attribute("data-amount", str(delivered(2 * PRICE, 2)))
    assert first.intent_ids() == before  # two checkout pages, no intent yet

    receipt = first.pay()  # the first tab still shows 2 copies

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".receipt-amount")).to_have_text(re.compile(r"^62\.00\s+SGD$"))
    intent = first.intent()
    assert first.intent_ids() - before == {intent.id}
    assert intent.amount == intent.latest_charge.amount == delivered(2 * PRICE, 2)
    assert intent.metadata["lines_1"] == f"{BOOK}:2:{PRICE}"
    order = shop.order(intent.id)
    assert order is not None and (order.status, order.amount) == ("paid", delivered(2 * PRICE, 2))
    assert [(line.book_id, line.quantity) for line in order.lines] == [(BOOK, 2)]
    first.assert_console_clean()


def test_a_decline_then_4242_pays_one_intent_and_the_ledger_and_webhooks_count_one_decline(
    shopper: Shopper, shop: RunningShop
) -> None:
    before = shopper.intent_ids()
    add_to_cart(shopper, HACKERS)
    shopper.open("/checkout")
    shopper.wait_for_payment_element()

    declined = shopper.pay(DECLINED)

    expect(declined).to_have_attribute("data-outcome", "declined")
    intent_id = shopper.intent_id()
    order = shop.order(intent_id)
    assert order is not None
    assert (order.status, order.decline_code, order.amount) == (
        "failed",
        "insufficient_funds",
        2500,
    )
    expect(shopper.page.locator("#cart-count")).to_have_text(re.compile(r"^1 book in your cart"))

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    assert shopper.intent_id() == intent_id
    intent = shopper.intent()
    assert (intent.status, intent.amount) == ("succeeded", 2500)
    assert intent.metadata["lines_1"] == "hackers:1:2200"
    assert shopper.intent_ids() - before == {intent_id}
    assert len(shopper.tokens) == 2
    assert [charge.status for charge in shopper.charges(intent_id)] == ["succeeded", "failed"]
    expect(shopper.page.locator("#cart-count")).to_have_text(re.compile(r"^0 books"))
    # Stripe told the shop of both attempts too; the ledger counts the decline once.
    wait_for(
        lambda: webhooks_delivered(
            shop, intent_id, {"payment_intent.payment_failed", "payment_intent.succeeded"}
        ),
        "the decline's and the payment's webhooks reach the shop",
    )
    order = shop.order(intent_id)
    assert order is not None
    assert (order.status, order.amount, order.decline_code) == ("paid", 2500, "insufficient_funds")
    assert order.charge_id == intent.latest_charge.id
    assert [(line.book_id, line.quantity, line.unit_price) for line in order.lines] == [
        ("hackers", 1, 2200)
    ]
    shopper.assert_console_clean(allow=(DECLINE_FETCH,))
    # Heard from the pay step's answer and from its webhook, the one decline counts once.
    assert order.attempts == 1, f"one decline counted {order.attempts} times"


def test_a_tab_closed_while_the_shop_pays_is_charged_once_recorded_and_shown_paid_on_return(
    new_shopper: NewShopper, shop: RunningShop
) -> None:
    shopper = new_shopper()
    context = shopper.page.context
    before = shopper.intent_ids()
    add_to_cart(shopper, HACKERS)
    shopper.open("/checkout")
    shopper.wait_for_payment_element()
    shopper.fill_card(VISA)
    # Stripe's webhooks go astray, and each Stripe call takes 2 s: the shop reads the token,
    # then creates and confirms the intent; the tab closes while that second call is under way.
    webhook_url = f"{shop.url}/webhooks/stripe"
    shop.sandbox.remove_webhook_endpoint(webhook_url)
    answers: list[Response] = []
    shopper.page.on("response", lambda r: answers.append(r) if re.search(PAY_STEP, r.url) else None)
    try:
        shop.sandbox.set_faults(latency_ms=2000)
        with shopper.page.expect_request(re.compile(PAY_STEP)):
            shopper.start_paying()
        shopper.page.wait_for_timeout(3000)
        assert answers == [], (
            "the shop answered before the tab closed: the journey needs slower calls"
        )
        shopper.page.close()
        shop.sandbox.set_faults()

        paid = wait_for(
            lambda: [
                i for i in shopper.intent_ids() - before if shopper.intent(i).status == "succeeded"
            ],
            "Stripe charges the card the closed tab sent",
        )
        (intent_id,) = paid
        assert shopper.intent_ids() - before == {intent_id}
        # The shop finishes the Pay it started, ledger write included, though the tab is gone
        # and no webhook comes: reconcile finds nothing to repair.
        wait_for(
            lambda: (order := shop.order(intent_id)) is not None and order.status == "paid",
            "the shop records the payment the closed tab made",
        )
        repaired = reconcile(shop)
    finally:
        shop.sandbox.set_faults()
        shop.sandbox.add_webhook_endpoint(webhook_url, SANDBOX_WEBHOOK_SECRET)

    assert repaired.strip().endswith("nothing to change."), repaired
    order = shop.order(intent_id)
    assert order is not None and (order.status, order.amount) == ("paid", 2500)

    # Back in the same browser: the checkout shows the payment's result, not a second Pay.
    back = Shopper(context.new_page(), shop, shopper.console)
    back.open("/checkout")
    expect(back.page).to_have_url(re.compile(rf"/success\?payment_intent={intent_id}&"))
    expect(back.page.locator(".receipt")).to_contain_text("Payment received")
    back.open("/cart")
    expect(back.page.locator("#cart-summary")).to_contain_text("Your cart is empty.")
    assert back.intent_ids() - before == {intent_id}
    back.assert_console_clean()


def add_to_cart(shopper: Shopper, title: str) -> None:
    """Add a book to the cart from the grid."""
    shopper.open("/")
    shopper.page.get_by_role("button", name=f"Add to cart {title}").click()
    expect(shopper.page.get_by_role("button", name=f"Added ✓ {title} to your cart")).to_be_visible()


def wait_for(check: Callable[[], Any], what: str) -> Any:
    """Poll `check` until it returns something truthy (then return it); fail saying `what`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {WAIT_S:.0f} s")


def webhooks_delivered(shop: RunningShop, intent_id: str, types: set[str]) -> list[str]:
    """The ids of the intent's events of these types, once the shop took each (a 2xx); empty
    while any is missing or undelivered."""
    events = {
        event["id"]: event["type"]
        for event in shop.sandbox.events()
        if event["type"] in types and event["data"]["object"]["id"] == intent_id
    }
    taken = {
        attempt["event"]
        for attempt in shop.sandbox.webhook_attempts()
        if attempt["ok"] and attempt["url"] == f"{shop.url}/webhooks/stripe"
    }
    if set(events.values()) != types or not set(events) <= taken:
        return []
    return sorted(events)


def reconcile(shop: RunningShop) -> str:
    """`make reconcile` against this shop's ledger and sandbox; what it printed."""
    env = shop_environment(port_of(shop.url), port_of(shop.sandbox.url), shop.database_url)
    done = subprocess.run(
        [sys.executable, "-m", "quart", "--app", "bookshop", "reconcile"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def port_of(url: str) -> int:
    """The port of a loopback URL."""
    port = urlsplit(url).port
    assert port is not None
    return port
