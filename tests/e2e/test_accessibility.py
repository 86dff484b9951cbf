"""Journey 9: axe-core finds nothing serious or critical in the shop, checkout, decline and receipt;
every control shows a strong focus ring; every page reflows at 320 px; nothing spins for a shopper
who asks for less motion."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.shopper import DECLINE_FETCH, VISA, NewShopper, Shopper
from tests.fixtures.sandbox import SandboxServer

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


# The controls of each kind, on the page where each appears: (page, selector, what it is).
CONTROLS = [
    ("/", "#search-q", "text input"),
    ("/", "#search-sort", "select"),
    ("/", "#add-code", "outlined button"),
    ("/", ".book-link", "link"),
    ("/", "a.btn-primary", "filled button link"),
    ("/checkout/code", "#email", "email input"),
    ("/checkout/code", "#quantity", "quantity select"),
    ("/checkout/code", "#update-quantity", "secondary button"),
    ("/checkout/code", "#pay-button", "filled button"),
    ("/cart", "#cart-summary .btn-link", "link button"),
    ("/checkout/address", "#address-country", "country select"),
    ("/checkout/address", "#address-name", "address input"),
]

# Reads what draws an element's focus indicator and the colour it is drawn against: the first
# ancestor with a background of its own (the outline, offset, sits on the parent's background).
FOCUS_STYLE = """element => {
    const style = getComputedStyle(element);
    let behind = element.parentElement, background = "rgb(255, 255, 255)";
    for (; behind; behind = behind.parentElement) {
        const colour = getComputedStyle(behind).backgroundColor;
        if (colour !== "rgba(0, 0, 0, 0)") { background = colour; break; }
    }
    return { focused: document.activeElement === element,
             visible: element.matches(":focus-visible"),
             style: style.outlineStyle, width: parseFloat(style.outlineWidth),
             colour: style.outlineColor, background };
}"""


def luminance(colour: str) -> float:
    """WCAG relative luminance of a computed `rgb()`/`rgba()` colour (opaque)."""
    red, green, blue = (int(part) / 255 for part in re.findall(r"[\d.]+", colour)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(one: str, other: str) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_kind_of_control_shows_a_focus_ring_of_at_least_3_to_1(
    new_shopper: NewShopper,
) -> None:
    shopper = new_shopper()
    page = shopper.page
    shopper.open("/")
    page.get_by_role("button", name=re.compile("^Add to cart Hackers")).press("Enter")
    expect(page.locator("#live-status")).to_contain_text("Added Hackers")
    shopper.open("/checkout/code")
    shopper.wait_for_payment_element()  # gives the address: the page with the Pay button
    weak: list[str] = []
    for path, selector, kind in CONTROLS:
        if not page.url.endswith(path):
            shopper.open(path)
        page.keyboard.press("Tab")  # keyboard modality: focus() then shows the ring
        control = page.locator(selector).first
        control.focus()
        ring = control.evaluate(FOCUS_STYLE)
        assert ring["focused"] and ring["visible"], f"{kind} ({selector}) did not take focus"
        ratio = contrast(ring["colour"], ring["background"])
        if ring["style"] in ("none", "hidden") or ring["width"] < 2 or ratio < 3:
            weak.append(f"{kind} {selector} on {path}: {ring} ({ratio:.1f}:1)")
    assert not weak, "faint focus indicators:\n" + "\n".join(weak)


PHONE_320 = {"width": 320, "height": 640}
MONEY = ".price, .unit-price, .line-total, .total, .subtotal, .shipping, .receipt-amount"
# The number of lines each amount's text takes (a Range's boxes, one per line).
MONEY_LINES = """selector => [...document.querySelectorAll(selector)].map(element => {
    const range = document.createRange();
    range.selectNodeContents(element);
    const tops = [...range.getClientRects()].map(box => Math.round(box.top));
    return [element.textContent.trim(), new Set(tops).size];
})"""


def test_every_page_reflows_at_320_px_without_sideways_scroll_or_a_broken_amount(
    new_shopper: NewShopper,
) -> None:
    shopper = new_shopper(viewport=PHONE_320)
    page = shopper.page
    shopper.open("/")
    for title in ("Code: The Hidden", "Structure and Interpretation", "The Mythical Man-Month"):
        page.get_by_role("button", name=re.compile(f"^Add to cart {title}")).press("Enter")
        expect(page.locator("#live-status")).to_contain_text(f"Added {title}")
    problems: list[str] = []
    for path in ("/", "/books/code", "/cart", "/checkout/address", "/checkout"):
        shopper.open(path)
        if path == "/checkout":
            shopper.wait_for_payment_element()
        if shopper.overflows_horizontally():
            problems.append(f"{path} scrolls sideways")
        problems += [
            f"{path}: {text!r} wraps onto {lines} lines"
            for text, lines in page.evaluate(MONEY_LINES, MONEY)
            if lines > 1
        ]
    assert not problems, "\n".join(problems)


def running_animations(shopper: Shopper) -> int:
    """How many CSS animations run on the page now."""
    return int(
        shopper.page.evaluate(
            "document.getAnimations().filter(a => a.playState === 'running').length"
        )
    )


@pytest.mark.parametrize("motion", ["reduce", "no-preference"])
def test_the_payment_spinner_stands_still_when_the_shopper_asks_for_less_motion(
    new_shopper: NewShopper, shop_sandbox: SandboxServer, motion: str
) -> None:
    shopper = new_shopper(reduced_motion=motion)
    shopper.open_checkout("code")
    shopper.fill_card(VISA)
    shop_sandbox.set_faults(latency_ms=1500)  # long enough to look at the spinner
    shopper.start_paying()
    spinner = shopper.result.locator(".payment-spinner")
    expect(spinner).to_be_visible()
    if motion == "reduce":
        assert running_animations(shopper) == 0
        expect(spinner).to_contain_text("Processing your payment")
    else:
        assert running_animations(shopper) > 0  # the check above can see a spinning ring
    expect(shopper.outcome()).to_have_attribute("data-outcome", "succeeded")
    shopper.assert_console_clean()
