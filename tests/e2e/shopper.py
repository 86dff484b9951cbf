"""What a shopper does in the browser, as one helper the journeys and `make screenshots` share."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import FrameLocator, Locator, Page, Request, expect

from tests.e2e.servers import RunningShop
from tests.fixtures.app import SINGAPORE

CARD_FRAME = 'iframe[title="Secure payment input frame"]'
CHALLENGE_FRAME = 'iframe[title="3D Secure authentication"]'
EMAIL = "reader@example.com"
VISA = "4242 4242 4242 4242"
# Each Pay the browser sends makes one ConfirmationToken in the card iframe (the shop confirms).
TOKEN = re.compile(r"/v1/confirmation_tokens$")
# The pay step's URL for the cart (/checkout/pay) or a book bought now (/checkout/<book>/pay).
PAY_STEP = r"/checkout/(?:[\w-]+/)?pay\b"


def pay_step_answered(status: int) -> str:
    """The console line Chromium logs when the shop's pay step answers with a 4xx or 5xx (htmx
    swaps the answer in: a decline is a 402, a changed order 409, the provider down 503)."""
    return rf"status of {status} .*{PAY_STEP}"


# A decline: the shop's pay step answers 402 with the decline message (Stripe's own API is only
# called by the shop, so no Stripe URL fails in the browser).
DECLINE_FETCH = pay_step_answered(402)
# Lines a healthy page never logs: script errors, CSP reports, failed loads of the shop's own files.
CSP = re.compile(r"Content[ -]Security[ -]Policy", re.IGNORECASE)


@dataclass
class Shopper:
    """One browser page on the running shop, and the steps of buying a book on it."""

    page: Page
    shop: RunningShop
    console: list[str] = field(default_factory=list)
    # Each ConfirmationToken the page made: one for every Pay that reached Stripe.js.
    tokens: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("request", self._count_token)

    def _count_token(self, request: Request) -> None:
        if request.method == "POST" and TOKEN.search(request.url):
            self.tokens.append(request.url)

    def open(self, path: str = "/") -> None:
        """Load a page of the shop (a full page load)."""
        self.page.goto(f"{self.shop.url}{path}")

    def open_checkout(self, book_id: str, quantity: int | None = None) -> None:
        """Load a book's checkout page (giving the address first if asked) and wait for the
        Payment Element to be ready to type in."""
        query = f"?quantity={quantity}" if quantity else ""
        self.open(f"/checkout/{book_id}{query}")
        self.wait_for_payment_element()

    def wait_for_payment_element(self, address: Mapping[str, str] = SINGAPORE) -> None:
        """Wait until the checkout's card fields take input (giving `address` first if the shop
        asks where the books go)."""
        self.page.locator("#payment-form, form.address-form").first.wait_for(state="attached")
        if self.page.locator("form.address-form").count():
            fill_address(self.page, address)
        expect(self.card_frame.get_by_label("Card number")).to_be_editable()

    @property
    def card_frame(self) -> FrameLocator:
        """The Payment Element's iframe."""
        return self.page.frame_locator(CARD_FRAME)

    @property
    def element(self) -> Locator:
        """The Payment Element's form inside its iframe: `data-amount` is the amount the Element
        holds (the page's `elements({amount})`, then each `elements.update({amount})`)."""
        return self.card_frame.locator("#payment-form")

    @property
    def total(self) -> Locator:
        """The checkout summary's total (`data-amount`: what the pay step is told it charges)."""
        return self.page.locator("#checkout-summary .total")

    @property
    def result(self) -> Locator:
        """The live region where the payment's outcome appears."""
        return self.page.locator("#payment-result")

    @property
    def pay_button(self) -> Locator:
        """The form's Pay button."""
        return self.page.locator("#pay-button")

    def intent_id(self) -> str:
        """The PaymentIntent the last Pay made (or retried): the outcome names it."""
        named = self.page.locator("#main [data-intent]").first
        expect(named).to_be_attached()
        intent_id = named.get_attribute("data-intent")
        assert intent_id, "the outcome names its payment"
        return intent_id

    def intent(self, intent_id: str | None = None) -> Any:
        """A PaymentIntent as the sandbox holds it (read with the secret key): the last Pay's
        unless named."""
        return self.shop.sandbox.client().v1.payment_intents.retrieve(
            intent_id or self.intent_id(), params={"expand": ["latest_charge"]}
        )

    def intent_ids(self) -> set[str]:
        """Every PaymentIntent the sandbox holds now: compare two readings to see which intents
        the steps between them created (a page view creates none; the first Pay creates one)."""
        listed = self.shop.sandbox.client().v1.payment_intents.list(params={"limit": 100})
        return {intent.id for intent in listed.auto_paging_iter()}

    def charges(self, intent_id: str | None = None) -> list[Any]:
        """The charges the sandbox made for a PaymentIntent (the last Pay's unless named)."""
        listed = self.shop.sandbox.client().v1.charges.list(
            params={"payment_intent": intent_id or self.intent_id(), "limit": 100}
        )
        return list(listed.auto_paging_iter())

    def fill_card(self, number: str, email: str = EMAIL) -> None:
        """Type the receipt email and a card, with a future expiry and any CVC."""
        self.page.locator("#email").fill(email)
        frame = self.card_frame
        frame.get_by_label("Card number").fill(number)
        frame.get_by_label("Expiration date").fill("12 / 34")
        frame.get_by_label("Security code").fill("123")
        # A postcode valid in the frame's billing country (it starts at the delivery country), if
        # the country has a postal field at all.
        postcodes = {"SG": "018937", "US": "12345", "GB": "SW1A 1AA", "CA": "K1A 0B1"}
        postal = frame.get_by_label(re.compile(r"^(ZIP|Postal) code$"))
        if postal.is_visible():
            postal.fill(postcodes[frame.get_by_label("Country or region").input_value()])

    def start_paying(self) -> None:
        """Clear the previous outcome and press Pay, without waiting for the new outcome."""
        # A cleared region means the next [data-outcome] to appear is this attempt's.
        self.result.evaluate("region => region.replaceChildren()")
        self.pay_button.click()

    def outcome(self) -> Locator:
        """Wait for this attempt's outcome: a message in the result region, or the confirmation."""
        # The confirmation replaces the whole checkout; any other outcome fills the result region.
        outcome = self.page.locator("#main [data-outcome]")
        expect(outcome).to_have_count(1)
        if outcome.get_attribute("data-outcome") != "succeeded":
            expect(self.pay_button).to_have_attribute("aria-disabled", "false")
        return outcome

    def pay(self, number: str = VISA) -> Locator:
        """Fill in a card, press Pay and return the outcome once it shows."""
        self.fill_card(number)
        self.start_paying()
        return self.outcome()

    def authenticate(self, button: str) -> None:
        """Answer the 3D Secure challenge: "Complete authentication" or "Fail authentication"."""
        self.page.frame_locator(CHALLENGE_FRAME).get_by_role("button", name=button).click()

    def console_errors(self, allow: tuple[str, ...] = ()) -> list[str]:
        """Console errors, page errors and CSP reports, except lines matching an `allow` pattern."""
        return [
            line
            for line in self.console
            if (line.startswith(("[error]", "[pageerror]")) or CSP.search(line))
            and not any(re.search(pattern, line) for pattern in allow)
        ]

    def assert_console_clean(self, allow: tuple[str, ...] = ()) -> None:
        """Fail with the offending lines if the page logged an error or a CSP violation."""
        errors = self.console_errors(allow)
        assert not errors, "the browser console has errors:\n" + "\n".join(errors)

    def overflows_horizontally(self) -> bool:
        """True when the page is wider than the viewport (a sideways scrollbar on a phone)."""
        return bool(
            self.page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
        )


# What the `new_shopper` fixture gives: open a Shopper in a new context (new_context options).
NewShopper = Callable[..., Shopper]


def fill_address(
    page: Page, address: Mapping[str, str] = SINGAPORE, javascript: bool = True
) -> None:
    """Give the delivery address on the address step and continue to payment."""
    country = address["country"]
    page.get_by_label("Country").select_option(country)
    if javascript:
        # Choosing the country re-renders the form for that country (htmx): fill in that one.
        expect(page.locator(f'form.address-form[data-country="{country}"]')).to_have_count(1)
    for name in ("name", "line1", "line2", "city", "state", "postal_code", "phone"):
        if address.get(name):
            page.locator(f"#address-{name}").fill(address[name])
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).not_to_have_url(re.compile(r"/checkout/address"))
