"""Journey 9: axe-core finds nothing serious or critical in the shop, checkout, decline, receipt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.shopper import DECLINE_FETCH, VISA, NewShopper, Shopper

pytestmark = pytest.mark.browser

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_violations(shopper: Shopper) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; the violations of serious or critical impact."""
    page = shopper.page
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=AXE)
    # The card and 3D Secure frames are Stripe's (here the sandbox's stand-in), on another origin:
    # axe would wait for an axe inside them that is not there. The shop's own markup is the subject.
    results: dict[str, Any] = page.evaluate(
        "() => axe.run(document, { resultTypes: ['violations'], iframes: false })"
    )
    return [v for v in results["violations"] if v["impact"] in BLOCKING]


def describe(state: str, violations: list[dict[str, Any]]) -> list[str]:
    """One line per failing node: the state, rule, impact, selector and what is wrong."""
    return [
        f"{state}: {v['id']} ({v['impact']}) at {' '.join(node['target'])}: "
        f"{node['failureSummary'].splitlines()[-1].strip()}"
        for v in violations
        for node in v["nodes"]
    ]


@pytest.fixture
def axe_shopper(new_shopper: NewShopper) -> Shopper:
    """A shopper whose pages accept axe-core's injected script despite the shop's CSP."""
    # add_script_tag(path=...) inserts the file's text inline, which a strict CSP blocks.
    return new_shopper(bypass_csp=True)


def test_shop_pages_have_no_serious_violations(axe_shopper: Shopper) -> None:
    found: list[str] = []
    axe_shopper.open("/")
    expect(axe_shopper.page.locator("#book-grid .book")).to_have_count(14)
    found += describe("shop", axe_violations(axe_shopper))

    axe_shopper.page.locator("#search-q").fill("no such book anywhere")
    expect(axe_shopper.page.locator(".empty-result")).to_be_visible()
    found += describe("empty search", axe_violations(axe_shopper))

    assert not found, "axe-core violations:\n" + "\n".join(found)
    axe_shopper.assert_console_clean()


def test_checkout_decline_and_receipt_have_no_serious_violations(axe_shopper: Shopper) -> None:
    found: list[str] = []
    axe_shopper.open_checkout("pragmatic-programmer")
    found += describe("checkout", axe_violations(axe_shopper))

    declined = axe_shopper.pay("4000 0000 0000 9995")
    expect(declined).to_have_attribute("data-outcome", "declined")
    found += describe("decline", axe_violations(axe_shopper))

    receipt = axe_shopper.pay(VISA)
    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    found += describe("receipt", axe_violations(axe_shopper))

    axe_shopper.page.reload()
    expect(axe_shopper.page.locator(".receipt")).to_be_visible()
    found += describe("receipt page", axe_violations(axe_shopper))

    assert not found, "axe-core violations:\n" + "\n".join(found)
    axe_shopper.assert_console_clean(allow=(DECLINE_FETCH,))


def test_the_cart_and_its_checkout_have_no_serious_violations(axe_shopper: Shopper) -> None:
    found: list[str] = []
    page = axe_shopper.page
    axe_shopper.open("/")
    for title in ("Hackers: Heroes of the Computer Revolution", "The Mythical Man-Month"):
        page.get_by_role("button", name=f"Add to cart {title}").click()
        expect(page.get_by_role("button", name=f"Added ✓ {title} to your cart")).to_be_visible()
    found += describe("added to cart", axe_violations(axe_shopper))

    axe_shopper.open("/cart")
    found += describe("cart", axe_violations(axe_shopper))
    axe_shopper.open("/checkout")
    axe_shopper.wait_for_payment_element()
    found += describe("cart checkout", axe_violations(axe_shopper))

    axe_shopper.open("/cart")
    for _ in range(2):
        page.locator("#cart-summary .cart-line").first.get_by_role(
            "button", name=re.compile("^Remove")
        ).click()
    expect(page.locator("#cart-summary")).to_contain_text("Your cart is empty.")
    found += describe("empty cart", axe_violations(axe_shopper))

    assert not found, "axe-core violations:\n" + "\n".join(found)
    axe_shopper.assert_console_clean()
