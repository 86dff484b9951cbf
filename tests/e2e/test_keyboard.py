"""A shop anyone can use: the whole purchase by keyboard alone, with the focus and the page's live
regions checked after every step.

No mouse API touches the page: only Tab, Shift+Tab, Enter, Space, an arrow key and typed text, all
through `page.keyboard` (reading the DOM is fine). `tab_to` proves each control is reachable by Tab;
after each step the test says which element `document.activeElement` is, and what the two live
regions of templates/base.html say (`#live-status` polite, `#live-alert` assertive).
"""

from __future__ import annotations

import re
from contextlib import suppress

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.shopper import CARD_FRAME, DECLINE_FETCH, EMAIL, VISA, Shopper
from tests.fixtures.sandbox import SandboxServer

pytestmark = pytest.mark.browser

DREAM, SOUL, HACKERS = (
    "The Dream Machine",  # 30.00 SGD
    "The Soul of a New Machine",  # 19.00 SGD
    "Hackers: Heroes of the Computer Revolution",  # 22.00 SGD
)
INSUFFICIENT_FUNDS = "4000 0000 0000 9995"
PROCESSING = "Processing your payment… please don't close this page."
# The address with mistakes is answered 422, which Chromium logs.
REFUSED_ADDRESS = r"status of 422 .*/checkout/address"

# `#id` (else the tag name) of a document's focused element.
FOCUSED = "() => { const e = document.activeElement; return e.id ? '#' + e.id : e.tagName; }"
# True while the live regions are the ones the document started with: a swap that replaced one
# would leave a screen reader listening to a region that is gone. The first call keeps them.
SAME_REGIONS = """() => {
    const now = [document.getElementById("live-status"), document.getElementById("live-alert")];
    window.keyboardRegions ??= now;
    return now.every((region, i) => region !== null && region === window.keyboardRegions[i]);
}"""


def active(page: Page) -> str:
    """Where the keyboard's focus is: `#id` (else the tag name) of `document.activeElement`, and
    inside a focused iframe its own focused field too (`IFRAME #card-number`)."""
    where: str = page.evaluate(FOCUSED)
    if where != "IFRAME":
        return where
    frame = page.evaluate_handle("document.activeElement").as_element()
    inner = frame.content_frame() if frame else None
    return f"{where} {inner.evaluate(FOCUSED)}" if inner else where


def expect_focus(page: Page, where: str) -> None:
    """Wait until the focus is on `where` (as `active` names it): a swap moves it a moment later."""
    with suppress(PlaywrightTimeoutError):  # the assertion then says where it went instead
        page.wait_for_function(f"where => ({FOCUSED})() === where", arg=where)
    assert active(page) == where


def tab_to(page: Page, target: str | Locator, key: str = "Tab", limit: int = 12) -> None:
    """Press Tab (or `key`, such as Shift+Tab) until `target` has the focus; fail after `limit`
    presses. `target` is a CSS selector, or a locator such as get_by_role(role, name=...) for a
    control known by its accessible name (or a field in the card iframe, by its frame's locator)."""
    element = page.locator(target) if isinstance(target, str) else target
    path = []
    for _ in range(limit):
        page.keyboard.press(key)
        path.append(active(page))
        if element.evaluate("e => e === document.activeElement && document.hasFocus()"):
            return
    raise AssertionError(f"{limit} presses of {key} never reached {target}: {' → '.join(path)}")


def live(page: Page, status: str = "", alert: str = "") -> None:
    """Wait until the polite region says `status` and the assertive one `alert` ("": nothing)."""
    expect(page.locator("#live-status")).to_have_text(status)
    expect(page.locator("#live-alert")).to_have_text(alert)
    assert page.evaluate(SAME_REGIONS), "a swap replaced a live region"


def arrive(shopper: Shopper, path: str) -> None:
    """A page load: the focus starts at the top of the new page (the document, as in any browser),
    where the first Tab is the skip link, and nothing is said yet."""
    page = shopper.page
    expect(page).to_have_url(shopper.shop.url + path)
    page.wait_for_load_state()
    assert active(page) == "BODY"
    live(page)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_a_keyboard_alone_buys_books_with_the_focus_kept_and_every_step_announced(
    shopper: Shopper, shop_sandbox: SandboxServer
) -> None:
    page, keyboard, frame = shopper.page, shopper.page.keyboard, shopper.card_frame

    # Search as you type: the grid changes, the focus stays in the search box.
    shopper.open("/")
    arrive(shopper, "/")
    tab_to(page, "#search-q")
    keyboard.type("machine")
    live(page, "2 books matching “machine”.")
    expect(page).to_have_url(re.compile(r"/\?q=machine$"))
    expect_focus(page, "#search-q")

    # Enter on Add: the button is swapped, keeps the focus and says what the cart holds.
    for count, (book, title) in enumerate(
        [("dream-machine", DREAM), ("soul-of-a-new-machine", SOUL)], start=1
    ):
        tab_to(page, f"#add-{book}")
        keyboard.press("Enter")
        expect(page.locator(f"#add-{book}")).to_have_accessible_name(
            f"Added ✓ {title} to your cart; press to add another copy"
        )
        expect_focus(page, f"#add-{book}")
        live(page, f"Added {title} to your cart. {count} book{'s' * (count > 1)} in your cart.")

    # Back to the search for a third book, added with Space.
    tab_to(page, "#search-q", key="Shift+Tab")
    keyboard.press("ControlOrMeta+A")
    keyboard.type("hackers")
    live(page, "1 book matching “hackers”.")
    expect_focus(page, "#search-q")
    tab_to(page, "#add-hackers")
    keyboard.press("Space")
    expect(page.locator("#add-hackers")).to_have_accessible_name(re.compile("^Added ✓ Hackers"))
    expect_focus(page, "#add-hackers")
    live(page, f"Added {HACKERS} to your cart. 3 books in your cart.")
    expect(page.locator("#cart-count")).to_have_text(re.compile(r"^3 books"))

    # Up to the header's Cart link.
    tab_to(page, page.get_by_role("link", name=re.compile("^Cart")), key="Shift+Tab")
    keyboard.press("Enter")
    arrive(shopper, "/cart")

    # Two copies of the first book: ArrowDown on its select, sent once the change settles (1 s).
    tab_to(page, "#quantity-dream-machine")
    keyboard.press("ArrowDown")
    live(page, f"{DREAM}: 2 copies. 4 books in your cart, 101.00 SGD.")
    expect_focus(page, "#quantity-dream-machine")
    expect(page.locator("#quantity-dream-machine")).to_have_value("2")
    expect(page.locator('.cart-line[data-book="dream-machine"] .line-total')).to_have_text(
        "60.00 SGD"
    )

    # Remove the middle line: the focus moves to the next line's title.
    tab_to(page, page.get_by_role("button", name=f"Remove {SOUL} from your cart"))
    keyboard.press("Enter")
    live(page, f"Removed {SOUL} from your cart. 3 books in your cart, 82.00 SGD.")
    expect_focus(page, "#line-hackers")
    expect(page.locator("#cart-summary .cart-line")).to_have_count(2)

    # Checkout asks where the books go first.
    tab_to(page, page.get_by_role("link", name="Checkout", exact=True))
    keyboard.press("Enter")
    arrive(shopper, "/checkout/address?next=/checkout")

    # The country by type-ahead on the select; the form follows it once the choice settles, and
    # neither the focus nor the choice is lost to the redraw.
    tab_to(page, "#address-country")
    keyboard.type("Sing")
    expect(page.locator('form.address-form[data-country="SG"]')).to_have_count(1)
    live(page, "The “State or region” field was removed.")  # a form of no country had one
    expect_focus(page, "#address-country")
    expect(page.locator("#address-country")).to_have_value("SG")

    # Mistakes: no street, a postal code too short for Singapore. The summary lists both, the
    # first field to fix takes the focus, and the alert says what is wrong with it.
    tab_to(page, "#address-name")
    keyboard.type("Ada Reader")
    tab_to(page, "#address-postal_code")
    keyboard.type("12345")
    tab_to(page, page.get_by_role("button", name="Continue to payment"))
    keyboard.press("Enter")
    live(
        page,
        "The “State or region” field was removed.",  # older news, not said again
        "Please check the fields marked below. Address: Enter your address.",
    )
    expect_focus(page, "#address-line1")
    expect(page.locator(".error-summary li")).to_have_text(
        ["Address: Enter your address.", re.compile(r"^Postal code: Enter a postal code")]
    )

    # Fixed where the focus is, then the postal code; on to payment.
    keyboard.type("1 Straits View")
    tab_to(page, "#address-postal_code")
    keyboard.press("ControlOrMeta+A")
    keyboard.type("018937")
    tab_to(page, page.get_by_role("button", name="Continue to payment"))
    keyboard.press("Enter")
    arrive(shopper, "/checkout")

    # The email, then Tab into the card iframe and through its fields to Pay. The billing country
    # starts at Singapore, whose postal code the frame asks for.
    expect(frame.get_by_label("Card number")).to_be_editable()
    total = page.locator("#checkout-summary .total").inner_text()
    tab_to(page, "#email")
    keyboard.type(EMAIL)
    keyboard.press("Tab")
    expect(page.locator(CARD_FRAME)).to_be_focused()
    for field, text in [
        ("#card-number", INSUFFICIENT_FUNDS),
        ("#card-expiry", "1234"),  # 12 / 34
        ("#card-cvc", "123"),
        ("#billing-country", ""),  # Singapore already
        ("#postal-code", "018937"),
    ]:
        assert active(page) == f"IFRAME {field}"
        keyboard.type(text)
        keyboard.press("Tab")
    expect_focus(page, "#pay-button")
    expect(frame.get_by_label("Country or region")).to_have_value("SG")
    expect(frame.get_by_label("Postal code", exact=True)).to_have_value("018937")
    expect(frame.get_by_label("Expiration date")).to_have_value("12 / 34")

    # Enter on Pay: busy yet still focused (aria-disabled, never disabled), and said politely.
    shop_sandbox.set_faults(latency_ms=1000)  # every Stripe call slow: the busy state shows
    keyboard.press("Enter")
    expect(shopper.pay_button).to_have_attribute("aria-disabled", "true")
    live(page, PROCESSING)
    expect_focus(page, "#pay-button")

    # Declined: said assertively, "Processing…" no longer claimed, the focus still on Pay.
    live(page, alert="Your card has insufficient funds. Try another card.")
    expect(shopper.result.locator("[data-outcome]")).to_have_attribute("data-outcome", "declined")
    expect(shopper.pay_button).to_have_attribute("aria-disabled", "false")
    expect_focus(page, "#pay-button")

    # Shift+Tab back into the card number, another card, Tab back to Pay.
    tab_to(page, frame.locator("#card-number"), key="Shift+Tab")
    keyboard.press("ControlOrMeta+A")
    keyboard.type(VISA)
    tab_to(page, "#pay-button")
    keyboard.press("Enter")
    live(page, PROCESSING)  # the decline, over now, is cleared
    expect_focus(page, "#pay-button")

    # Paid: the confirmation replaces the checkout and its order number takes the focus; the
    # page says so.
    live(page, f"Payment received: {total}.")
    expect_focus(page, "#receipt-heading")
    expect(page.locator("#receipt-heading")).to_have_text(re.compile(r"^Order BK-[2-9A-Z]{6}$"))
    expect(shopper.pay_button).to_have_count(0)
    expect(page.locator(".receipt .receipt-amount")).to_have_text(total)
    expect(page).to_have_title("Thank you \u2013 Bookshop")
    expect(page.locator("#page-heading")).to_have_text("Thank you for your order")
    shopper.assert_console_clean(allow=(DECLINE_FETCH, REFUSED_ADDRESS))
