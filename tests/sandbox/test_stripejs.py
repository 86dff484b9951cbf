"""The sandbox's fake Stripe.js, driven in a real Chromium from a shop page on another origin.

The shop page is served from its own loopback port with a strict CSP that allows scripts, frames
and fetches only from the sandbox, like the real shop's policy for js.stripe.com. It comes in two
kinds, as Stripe.js has two ways to pay: `/` confirms a PaymentIntent in the browser
(`elements({clientSecret})`, `confirmPayment`), `/deferred` renders the Payment Element before
any intent exists (`elements({mode: "payment"})`) and hands a ConfirmationToken to the server,
which confirms, then finishes 3D Secure with `handleNextAction`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import FrameLocator, Locator, Page, expect

from tests.fixtures.stripe_data import card_table

FRAME = 'iframe[title="Secure payment input frame"]'
RECEIPT_EMAIL = "reader@example.com"

SHOP_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Test shop checkout</title>
  <script src="{sandbox}/v3/"></script>
  <script src="{script}" defer></script>
</head>
<body data-config="{config}">
  <h1>Checkout</h1>
  <form id="payment-form">
    <div id="payment-element"></div>
    <button id="pay" type="submit">Pay</button>
  </form>
  <pre id="result"></pre>
</body>
</html>
"""

# The shop's checkout script as the bookshop writes it: submit, then confirm, then show the result.
SHOP_JS = """
const config = JSON.parse(document.body.dataset.config);
const stripe = Stripe(config.publishableKey);
const elements = stripe.elements({ clientSecret: config.clientSecret });
const payment = elements.create("payment");
const shop = { stripe, elements, payment, changes: [], ready: false };
window.shop = shop;
payment.on("change", (event) => shop.changes.push(event));
payment.on("ready", () => { shop.ready = true; document.body.dataset.ready = "true"; });
payment.mount("#payment-element");

const result = document.getElementById("result");
document.getElementById("payment-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  delete result.dataset.done;
  const submitted = await elements.submit();
  let outcome = submitted.error ? { submitError: submitted.error } : null;
  if (!outcome) {
    outcome = await stripe.confirmPayment({
      elements,
      confirmParams: { return_url: config.returnUrl, receipt_email: config.receiptEmail },
      redirect: config.redirect,
    });
  }
  result.textContent = JSON.stringify(outcome);
  result.dataset.done = "true";
});
"""


# The deferred flow ("finalize payments on the server"): submit, then a ConfirmationToken for the
# server, which confirms the intent and, for 3D Secure, hands its client secret back to the page.
DEFERRED_JS = """
const config = JSON.parse(document.body.dataset.config);
const stripe = Stripe(config.publishableKey);
const elements = stripe.elements({
  mode: "payment",
  amount: config.amount,
  currency: config.currency,
  appearance: { theme: "stripe", variables: { colorPrimary: "#0d6efd" } },
  paymentMethodCreation: "manual",
});
const payment = elements.create("payment", {
  defaultValues: { billingDetails: { address: { country: "SG" } } },
});
// `messages`: everything other windows (the card frame) told this page; never the card number.
const shop = { stripe, elements, payment, changes: [], messages: [], updates: 0, ready: false };
window.shop = shop;
window.addEventListener("message", (event) => shop.messages.push(String(event.data)));
elements.on("update-end", () => { shop.updates += 1; });
payment.on("change", (event) => shop.changes.push(event));
payment.on("ready", () => { shop.ready = true; document.body.dataset.ready = "true"; });
payment.mount("#payment-element");

const result = document.getElementById("result");
function show(outcome) {
  result.textContent = JSON.stringify(outcome);
  result.dataset.done = "true";
}
document.getElementById("payment-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  delete result.dataset.done;
  const submitted = await elements.submit();
  if (submitted.error) {
    show({ submitError: submitted.error });
    return;
  }
  show(await stripe.createConfirmationToken({
    elements,
    params: {
      return_url: config.returnUrl,
      shipping: config.shipping,
      payment_method_data: { billing_details: { name: "Ada Reader", email: config.receiptEmail } },
    },
  }));
});
shop.handleNextAction = async (clientSecret) => {
  delete result.dataset.done;
  show(await stripe.handleNextAction({ clientSecret }));
};
"""
SHIPPING: dict[str, Any] = {
    "name": "Ada Reader",
    "phone": "+65 6123 4567",
    "address": {
        "line1": "1 Fusionopolis Way",
        "city": "Singapore",
        "postal_code": "138632",
        "country": "SG",
    },
}

# A valid billing postcode for each country whose card form asks for one (the frame's table).
POSTCODES = {"US": "12345", "SG": "018937", "GB": "SW1A 1AA", "CA": "K1A 0B1"}
POSTAL_LABEL = re.compile(r"^(ZIP|Postal) code$")

CARDS = card_table()
DECLINES = [
    row
    for row in CARDS
    if row["type"] == "card_error" and row["result"] == "requires_payment_method"
]


class _ShopHandler(BaseHTTPRequestHandler):
    """Serves the test shop page; its config (keys, intent) comes in the query string."""

    sandbox_url = ""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        config: dict[str, Any] = {
            "returnUrl": f"http://{self.headers['Host']}/return",
            "receiptEmail": RECEIPT_EMAIL,
        }
        if url.path == "/":
            config["publishableKey"] = query["pk"]
            config["clientSecret"] = query["client_secret"]
            config["redirect"] = query.get("redirect", "if_required")
            self._page("/shop.js", config)
        elif url.path == "/deferred":
            config["publishableKey"] = query["pk"]
            config["amount"] = int(query["amount"])
            config["currency"] = query["currency"]
            config["shipping"] = SHIPPING
            self._page("/deferred.js", config)
        elif url.path == "/shop.js":
            self._send(SHOP_JS, "application/javascript")
        elif url.path == "/deferred.js":
            self._send(DEFERRED_JS, "application/javascript")
        elif url.path == "/framing":
            # Another site (the test opens it as http://localhost:<port>) framing the card fields.
            src = parse_qs(url.query)["src"][0].replace("&", "&amp;").replace('"', "&quot;")
            self._send(f'<!doctype html><iframe title="framed" src="{src}"></iframe>', "text/html")
        elif url.path == "/return":
            self._send("<!doctype html><title>Order complete</title><p>Thanks", "text/html")
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _page(self, script: str, config: dict[str, Any]) -> None:
        attribute = json.dumps(config).replace("&", "&amp;").replace('"', "&quot;")
        html = SHOP_HTML.format(sandbox=self.sandbox_url, script=script, config=attribute)
        self._send(html, "text/html")

    def _send(self, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        sandbox = self.sandbox_url
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' {sandbox}; frame-src {sandbox}; "
            f"connect-src {sandbox}; style-src 'self'; img-src 'self'",
        )
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def shop_origin(sandbox_server: Any) -> Iterator[str]:
    """A tiny shop on its own loopback port, so the sandbox's frames are cross-origin."""
    handler = type("ShopHandler", (_ShopHandler,), {"sandbox_url": sandbox_server.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class ShopPage:
    """The test shop's checkout page, and what a shopper does on it."""

    page: Page
    sandbox: Any

    @property
    def frame(self) -> FrameLocator:
        return self.page.frame_locator(FRAME)

    @property
    def country(self) -> Locator:
        return self.frame.get_by_label("Country or region")

    @property
    def postal(self) -> Locator:
        """The postal field, labelled "ZIP code" or "Postal code" by the billing country."""
        return self.frame.get_by_label(POSTAL_LABEL)

    def fill_card(
        self, number: str, expiry: str = "12 / 34", cvc: str = "123", postal: str | None = None
    ) -> None:
        """Type a card; the postcode is one valid in the frame's country unless given."""
        self.frame.get_by_label("Card number").fill(number)
        self.frame.get_by_label("Expiration date").fill(expiry)
        self.frame.get_by_label("Security code").fill(cvc)
        if postal is None:
            postal = POSTCODES.get(self.country.input_value())
        if postal is not None:
            self.postal.fill(postal)

    def pay(self) -> dict[str, Any]:
        """Click Pay and return what submit()/confirmPayment() resolved to."""
        self.page.get_by_role("button", name="Pay").click()
        return self.result()

    def result(self) -> dict[str, Any]:
        done = self.page.locator("#result[data-done]")
        done.wait_for()
        outcome: dict[str, Any] = json.loads(done.text_content() or "null")
        self.page.evaluate("delete document.getElementById('result').dataset.done")
        return outcome

    def authenticate(self, button: str) -> None:
        """Answer the 3D Secure modal with "Complete authentication" or "Fail authentication"."""
        challenge = self.page.frame_locator('iframe[title="3D Secure authentication"]')
        expect(challenge.get_by_text("test sandbox", exact=False).first).to_be_visible()
        challenge.get_by_role("button", name=button).click()


@dataclass
class Checkout(ShopPage):
    """The checkout page of one PaymentIntent, confirmed in the browser."""

    intent_id: str
    client_secret: str

    def server_intent(self) -> Any:
        return self.sandbox.client().v1.payment_intents.retrieve(self.intent_id)


@pytest.fixture
def open_checkout(page: Page, sandbox: Any, shop_origin: str) -> Any:
    """Create a PaymentIntent on the sandbox and open the shop's checkout page for it."""

    def open_(amount: int = 2000, redirect: str = "if_required") -> Checkout:
        intent = sandbox.client().v1.payment_intents.create(
            params={"amount": amount, "currency": "usd"}
        )
        query = urlencode(
            {
                "pk": sandbox.publishable_key,
                "client_secret": intent.client_secret,
                "redirect": redirect,
            }
        )
        page.goto(f"{shop_origin}/?{query}")
        page.locator("body[data-ready=true]").wait_for()
        return Checkout(page, sandbox, intent.id, intent.client_secret)

    return open_


def test_v3_is_served_as_javascript(sandbox: Any) -> None:
    for path in ("/v3/", "/v3"):
        response = httpx.get(f"{sandbox.url}{path}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/javascript")
        assert "no-cache" in response.headers["cache-control"]
        assert "window.Stripe = Stripe" in response.text


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_v3_is_served_compressed_like_stripes(sandbox: Any, encoding: str) -> None:
    # Stripe's CDN compresses Stripe.js; uncompressed, the checkout would measure slower here.
    plain = httpx.get(f"{sandbox.url}/v3/", headers={"Accept-Encoding": "identity"})
    packed = httpx.get(f"{sandbox.url}/v3/", headers={"Accept-Encoding": encoding})
    assert packed.headers["content-encoding"] == encoding
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.content == plain.content  # httpx decodes it
    assert "Accept-Encoding" in packed.headers["vary"]


def test_framed_pages_load_only_their_own_scripts(sandbox: Any) -> None:
    frame = httpx.get(f"{sandbox.url}/elements/payment-frame")
    challenge = httpx.get(f"{sandbox.url}/3ds/challenge/pi_123?client_secret=pi_123_secret_4")
    for response in (frame, challenge):
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "<script>" not in response.text
    assert httpx.get(f"{sandbox.url}/3ds/challenge/not-an-intent").status_code == 404


@pytest.mark.browser
def test_visa_succeeds_and_intent_has_a_charge(open_checkout: Any, console_log: list[str]) -> None:
    checkout = open_checkout()
    checkout.fill_card("4242 4242 4242 4242")

    outcome = checkout.pay()

    assert outcome["paymentIntent"]["status"] == "succeeded"
    assert outcome["paymentIntent"]["id"] == checkout.intent_id
    intent = checkout.server_intent()
    assert intent.status == "succeeded"
    assert intent.latest_charge
    assert intent.receipt_email == RECEIPT_EMAIL
    assert not [line for line in console_log if "Content Security Policy" in line]


@pytest.mark.browser
def test_card_number_stays_inside_the_frame(open_checkout: Any) -> None:
    checkout = open_checkout()
    checkout.fill_card("5555555555554444")
    number = checkout.frame.get_by_label("Card number")
    # Typed key by key, the number is grouped as the shopper types.
    number.clear()
    number.press_sequentially("5555555555554444")
    expect(number).to_have_value("5555 5555 5555 4444")
    expect(checkout.frame.get_by_label("Expiration date")).to_have_value("12 / 34")

    outcome = checkout.pay()

    assert outcome["paymentIntent"]["status"] == "succeeded"
    html = checkout.page.content()
    for leaked in ("5555555555554444", "5555 5555 5555 4444"):
        assert leaked not in html
    assert "4444" not in json.dumps(checkout.page.evaluate("window.shop.changes"))


@pytest.mark.browser
def test_each_decline_card_resolves_its_stripejs_error_and_intent_stays_payable(
    open_checkout: Any,
) -> None:
    # One intent and one page for every decline row: each retry also proves the intent is reusable.
    checkout = open_checkout()
    for card in DECLINES:
        checkout.fill_card(card["number"])

        error = checkout.pay()["error"]

        expected_decline = None if card["decline_code"] == "-" else card["decline_code"]
        seen = (error["type"], error["code"], error.get("decline_code"), error["message"])
        expected = ("card_error", card["code"], expected_decline, card["stripejs_message"])
        assert seen == expected, card["scenario"]
        assert error["payment_intent"]["id"] == checkout.intent_id
        assert error["payment_intent"]["status"] == "requires_payment_method"
        assert checkout.server_intent().status == "requires_payment_method"

    checkout.fill_card("4242424242424242")
    outcome = checkout.pay()

    assert outcome["paymentIntent"]["status"] == "succeeded"
    assert checkout.server_intent().status == "succeeded"


@pytest.mark.browser
def test_luhn_failure_is_caught_in_the_frame(open_checkout: Any, page: Page) -> None:
    checkout = open_checkout()
    api_calls: list[str] = []
    page.on(
        "request", lambda request: api_calls.append(request.url) if "/v1/" in request.url else None
    )
    checkout.fill_card("4242424242424241")

    outcome = checkout.pay()

    error = outcome["submitError"]
    assert error["type"] == "validation_error"
    assert error["message"] == "Your card number is invalid."
    number = checkout.frame.get_by_label("Card number")
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(checkout.frame.get_by_text("Your card number is invalid.")).to_be_visible()
    assert api_calls == []
    intent = checkout.server_intent()
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is None
    assert page.evaluate("window.shop.changes.at(-1).complete") is False


@pytest.mark.browser
def test_empty_form_reports_incomplete_fields(open_checkout: Any, page: Page) -> None:
    checkout = open_checkout()

    error = checkout.pay()["submitError"]

    assert error == {
        "type": "validation_error",
        "code": "incomplete_number",
        "message": "Your card number is incomplete.",
    }
    for label in ("Card number", "Expiration date", "Security code", "ZIP code"):
        expect(checkout.frame.get_by_label(label)).to_have_attribute("aria-invalid", "true")
    checkout.fill_card("4242424242424242")
    expect(checkout.frame.get_by_label("Card number")).to_have_attribute("aria-invalid", "false")
    last = page.evaluate("window.shop.changes.at(-1)")
    assert last == {
        "elementType": "payment",
        "complete": True,
        "empty": False,
        "collapsed": False,
        "value": {"type": "card"},
    }


@pytest.mark.browser
def test_confirm_without_submit_still_validates_in_the_frame(
    open_checkout: Any, page: Page
) -> None:
    checkout = open_checkout()

    outcome = page.evaluate(
        "shop.stripe.confirmPayment({elements: shop.elements, redirect: 'if_required'})"
    )

    assert outcome["error"]["type"] == "validation_error"
    assert outcome["error"]["code"] == "incomplete_number"
    assert checkout.server_intent().last_payment_error is None


@pytest.mark.browser
def test_frame_refuses_a_parent_that_lies_about_its_origin(
    page: Page, sandbox: Any, shop_origin: str
) -> None:
    # A page elsewhere frames the card fields claiming to be the shop: the frame stays inert.
    src = f"{sandbox.url}/elements/payment-frame?{urlencode({'origin': shop_origin})}"
    elsewhere = shop_origin.replace("127.0.0.1", "localhost")
    page.goto(f"{elsewhere}/framing?{urlencode({'src': src})}")

    frame = page.frame_locator('iframe[title="framed"]')
    expect(frame.get_by_text("can only be used by the page that created it")).to_be_visible()
    expect(frame.get_by_label("Card number")).to_have_count(0)


@pytest.mark.browser
def test_expiry_in_the_past_is_rejected(open_checkout: Any) -> None:
    checkout = open_checkout()
    checkout.fill_card("4242424242424242", expiry="01 / 20")

    error = checkout.pay()["submitError"]

    assert error["code"] == "invalid_expiry_year_past"
    expect(checkout.frame.get_by_label("Expiration date")).to_have_attribute("aria-invalid", "true")


@pytest.mark.browser
def test_3ds_approved_succeeds(open_checkout: Any) -> None:
    checkout = open_checkout()
    checkout.fill_card("4000002500003155")
    checkout.page.get_by_role("button", name="Pay").click()

    checkout.authenticate("Complete authentication")
    outcome = checkout.result()

    assert outcome["paymentIntent"]["status"] == "succeeded"
    expect(checkout.page.get_by_role("dialog")).to_have_count(0)
    assert checkout.server_intent().status == "succeeded"


@pytest.mark.browser
def test_3ds_failure_then_retry_succeeds(open_checkout: Any) -> None:
    checkout = open_checkout()
    checkout.fill_card("4000002760003184")
    checkout.page.get_by_role("button", name="Pay").click()
    checkout.authenticate("Fail authentication")

    error = checkout.result()["error"]

    assert error["type"] == "invalid_request_error"
    assert error["code"] == "payment_intent_authentication_failure"
    assert error["message"] == (
        "We are unable to authenticate your payment method. "
        "Please choose a different payment method and try again."
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    checkout.fill_card("4242424242424242")
    assert checkout.pay()["paymentIntent"]["status"] == "succeeded"


@pytest.mark.browser
def test_3ds_then_insufficient_funds(open_checkout: Any) -> None:
    checkout = open_checkout()
    checkout.fill_card("4000008260003178")
    checkout.page.get_by_role("button", name="Pay").click()
    checkout.authenticate("Complete authentication")

    error = checkout.result()["error"]

    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    assert error["message"] == "Your card has insufficient funds."
    assert checkout.server_intent().status == "requires_payment_method"


@pytest.mark.browser
def test_redirect_always_goes_to_return_url(open_checkout: Any, page: Page) -> None:
    checkout = open_checkout(redirect="always")
    checkout.fill_card("4242424242424242")

    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/return?**")

    query = parse_qs(urlsplit(page.url).query)
    assert query == {
        "payment_intent": [checkout.intent_id],
        "payment_intent_client_secret": [checkout.client_secret],
        "redirect_status": ["succeeded"],
    }


@pytest.mark.browser
def test_fetch_updates_and_retrieve_see_a_new_amount(open_checkout: Any, page: Page) -> None:
    checkout = open_checkout(amount=2000)
    checkout.sandbox.client().v1.payment_intents.update(checkout.intent_id, params={"amount": 3150})

    assert page.evaluate("shop.elements.fetchUpdates()") == {}
    assert page.evaluate("shop.elements.amount") == 3150
    retrieved = page.evaluate(
        f"shop.stripe.retrievePaymentIntent({json.dumps(checkout.client_secret)})"
    )
    assert retrieved["paymentIntent"]["amount"] == 3150
    assert retrieved["paymentIntent"]["status"] == "requires_payment_method"


@pytest.mark.browser
@pytest.mark.parametrize(
    ("fail_mode", "error_type"), [("error", "api_error"), ("drop", "api_connection_error")]
)
def test_api_failures_resolve_errors_not_rejections(
    open_checkout: Any, page: Page, sandbox: Any, fail_mode: str, error_type: str
) -> None:
    checkout = open_checkout()
    checkout.fill_card("4242424242424242")
    retrieve = f"shop.stripe.retrievePaymentIntent({json.dumps(checkout.client_secret)})"

    sandbox.set_faults(fail_rate=1.0, fail_mode=fail_mode)
    assert page.evaluate(retrieve)["error"]["type"] == error_type
    assert checkout.pay()["error"]["type"] == error_type

    sandbox.set_faults()
    assert checkout.pay()["paymentIntent"]["status"] == "succeeded"


@pytest.mark.browser
def test_element_fits_a_phone_screen(open_checkout: Any, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    checkout = open_checkout()
    frame = page.locator(FRAME)
    expect(checkout.frame.get_by_text("Test sandbox")).to_be_visible()

    box = frame.bounding_box()
    assert box is not None and box["width"] <= 390
    zip_code = checkout.frame.get_by_label("ZIP code")
    zip_box = zip_code.bounding_box()
    assert zip_box is not None
    # The frame grew to its content: the last field is inside it, not cut off.
    assert zip_box["y"] + zip_box["height"] <= box["y"] + box["height"]
    for label, autocomplete in (
        ("Card number", "cc-number"),
        ("Expiration date", "cc-exp"),
        ("Security code", "cc-csc"),
        ("ZIP code", "postal-code"),
    ):
        field = checkout.frame.get_by_label(label)
        expect(field).to_have_attribute("autocomplete", autocomplete)
        expect(field).to_have_attribute("inputmode", "numeric")
    expect(checkout.country).to_have_attribute("autocomplete", "country")
    country_box = checkout.country.bounding_box()
    assert country_box is not None and country_box["x"] + country_box["width"] <= 390


# The deferred flow: elements({mode: "payment"}), createConfirmationToken, handleNextAction.

VISA = "4242424242424242"
CTOKEN_PATH = "/v1/confirmation_tokens"


@pytest.fixture
def open_deferred(page: Page, sandbox: Any, shop_origin: str) -> Any:
    """Open the shop's deferred checkout: the Payment Element before any PaymentIntent exists."""

    def open_(amount: int = 2000, currency: str = "usd") -> ShopPage:
        query = urlencode({"pk": sandbox.publishable_key, "amount": amount, "currency": currency})
        page.goto(f"{shop_origin}/deferred?{query}")
        page.locator("body[data-ready=true]").wait_for()
        return ShopPage(page, sandbox)

    return open_


def api_requests(page: Page) -> list[Any]:
    """Every request to the sandbox's API that the page or its frames make from now on."""
    seen: list[Any] = []
    page.on("request", lambda request: seen.append(request) if "/v1/" in request.url else None)
    return seen


def settle(page: Page, expression: str) -> str:
    """How a call ends, awaited: 'resolved', or what it throws or rejects with (name: message)."""
    return str(
        page.evaluate(
            f"Promise.resolve().then(() => {expression})"
            ".then(() => 'resolved', (error) => `${error.name}: ${error.message}`)"
        )
    )


def assert_never_saw_the_card(shop: ShopPage, *numbers: str) -> None:
    """Neither the page's markup nor anything the card frame told the page holds the number."""
    html = shop.page.content()
    told = json.dumps(shop.page.evaluate("[shop.messages, shop.changes]"))
    for number in numbers:
        for leaked in (number, " ".join(number[i : i + 4] for i in range(0, len(number), 4))):
            assert leaked not in html
            assert leaked not in told


@pytest.mark.browser
def test_deferred_elements_mount_with_an_amount(
    open_deferred: Any, page: Page, console_log: list[str]
) -> None:
    requests = api_requests(page)
    shop = open_deferred(amount=2000, currency="usd")

    form = shop.frame.locator("#payment-form")
    expect(form).to_have_attribute("data-mode", "payment")
    expect(form).to_have_attribute("data-amount", "2000")
    expect(form).to_have_attribute("data-currency", "usd")
    expect(shop.frame.get_by_label("Card number")).to_be_visible()
    assert requests == []  # no intent to read: nothing is asked of the API until Pay
    assert not [line for line in console_log if "Content Security Policy" in line]


@pytest.mark.browser
def test_update_changes_the_amount_the_element_holds(open_deferred: Any, page: Page) -> None:
    shop = open_deferred(amount=2000)
    form = shop.frame.locator("#payment-form")

    assert page.evaluate("shop.elements.update({amount: 3150, currency: 'sgd'})") is None

    expect(form).to_have_attribute("data-amount", "3150")
    expect(form).to_have_attribute("data-currency", "sgd")
    assert page.evaluate("shop.updates") == 1
    # A refused update changes nothing, like Stripe.js's IntegrationError.
    refused = settle(page, "shop.elements.update({amount: 4200, currency: 'SGD'})")
    assert refused.startswith("IntegrationError: Invalid value for elements.update(): currency")
    assert settle(page, "shop.elements.update({amount: 0})").startswith("IntegrationError")
    assert settle(page, "shop.elements.update({amount: 12.5})").startswith("IntegrationError")
    expect(form).to_have_attribute("data-amount", "3150")
    assert page.evaluate("shop.updates") == 1


@pytest.mark.browser
@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("shop.stripe.elements({mode: 'payment', currency: 'usd'})", "amount should be a positive"),
        ("shop.stripe.elements({mode: 'payment', amount: 2000})", "currency should be a three"),
        ("shop.stripe.elements({mode: 'bogus', amount: 1, currency: 'usd'})", "mode should be one"),
        ("shop.stripe.elements({mode: 'setup', currency: 'usd'})", 'supports mode: "payment" only'),
        (
            "shop.stripe.elements({mode: 'payment', amount: 1, currency: 'usd', "
            "paymentMethodTypes: ['card']})",
            "paymentMethodTypes is no longer supported",
        ),
        (
            "shop.stripe.elements({mode: 'payment', amount: 1, currency: 'usd', "
            "clientSecret: 'pi_1_secret_2'})",
            "either clientSecret or mode",
        ),
        ("shop.stripe.elements().create('payment')", "you must pass a clientSecret or mode"),
        ("shop.elements.fetchUpdates()", "fetchUpdates() can only be used"),
        (
            "shop.stripe.createConfirmationToken({elements: shop.elements})",
            "submit() must be called",
        ),
        ("shop.stripe.createConfirmationToken({elements: {}})", "an Elements group created by"),
        ("shop.stripe.handleNextAction({clientSecret: 'nope'})", "Invalid value for clientSecret"),
        (
            "shop.stripe.confirmPayment({elements: shop.elements, redirect: 'if_required'})",
            "the `clientSecret` argument is required",
        ),
    ],
)
def test_deferred_integration_mistakes_throw_like_stripejs(
    open_deferred: Any, page: Page, call: str, error: str
) -> None:
    open_deferred()
    requests = api_requests(page)

    outcome = settle(page, call)

    assert outcome.startswith("IntegrationError: ")
    assert error in outcome
    assert requests == []


@pytest.mark.browser
def test_client_secret_elements_refuse_a_deferred_update(open_checkout: Any, page: Page) -> None:
    open_checkout(amount=2000)

    outcome = settle(page, "shop.elements.update({amount: 3150})")

    assert outcome.startswith("IntegrationError: elements.update(): amount cannot be updated")
    assert settle(page, "shop.elements.update({appearance: {theme: 'night'}})") == "resolved"


@pytest.mark.browser
def test_deferred_submit_with_empty_fields_is_a_validation_error(
    open_deferred: Any, page: Page
) -> None:
    shop = open_deferred()
    requests = api_requests(page)

    error = shop.pay()["submitError"]

    assert error == {
        "type": "validation_error",
        "code": "incomplete_number",
        "message": "Your card number is incomplete.",
    }
    for label in ("Card number", "Expiration date", "Security code", "Postal code"):
        expect(shop.frame.get_by_label(label)).to_have_attribute("aria-invalid", "true")
    expect(shop.frame.get_by_text("Your card number is incomplete.")).to_be_visible()
    assert requests == []
    # A token asked for anyway (submit failed) is refused before anything is sent.
    outcome = settle(page, "shop.stripe.createConfirmationToken({elements: shop.elements})")
    assert "submit() must be called" in outcome
    assert requests == []


@pytest.mark.browser
def test_a_card_changed_after_submit_is_validated_again(open_deferred: Any, page: Page) -> None:
    shop = open_deferred()
    shop.fill_card(VISA)
    assert page.evaluate("shop.elements.submit()") == {"selectedPaymentMethod": "card"}
    requests = api_requests(page)
    shop.frame.get_by_label("Card number").fill("4242424242424241")

    outcome = page.evaluate("shop.stripe.createConfirmationToken({elements: shop.elements})")

    assert outcome["error"]["type"] == "validation_error"
    assert outcome["error"]["code"] == "invalid_number"
    assert requests == []


@pytest.mark.browser
def test_confirmation_token_carries_the_card_from_the_frame_not_the_page(
    open_deferred: Any, page: Page, sandbox: Any
) -> None:
    shop = open_deferred()
    requests = api_requests(page)
    shop.fill_card(VISA)

    outcome = shop.pay()

    token = outcome["confirmationToken"]
    assert token["id"].startswith("ctoken_")
    assert token["object"] == "confirmation_token"
    assert token["payment_intent"] is None
    # The server, with the secret key, sees the card Stripe.js sent, and the page's params.
    retrieved = sandbox.client().v1.confirmation_tokens.retrieve(token["id"])
    card = retrieved.payment_method_preview.card
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    billing = retrieved.payment_method_preview.billing_details
    assert (billing.name, billing.email) == ("Ada Reader", RECEIPT_EMAIL)
    assert (billing.address.postal_code, billing.address.country) == ("018937", "SG")
    assert retrieved.shipping.name == SHIPPING["name"]
    assert retrieved.shipping.address.line1 == SHIPPING["address"]["line1"]
    assert retrieved.return_url.endswith("/return")
    # Only the card frame posted the card, with the publishable key, as Stripe.js does.
    posts = [request for request in requests if request.method == "POST"]
    assert [urlsplit(request.url).path for request in posts] == [CTOKEN_PATH]
    assert posts[0].frame.url.startswith(f"{sandbox.url}/elements/payment-frame")
    sent = parse_qs(posts[0].post_data or "")
    assert sent["payment_method_data[card][number]"] == [VISA]
    assert sent["key"] == [sandbox.publishable_key]
    # The page got the token; it never saw the number.
    assert VISA not in json.dumps(outcome)
    assert_never_saw_the_card(shop, VISA)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("fail_mode", "error_type"), [("error", "api_error"), ("drop", "api_connection_error")]
)
def test_confirmation_token_api_failures_resolve_errors(
    open_deferred: Any, sandbox: Any, fail_mode: str, error_type: str
) -> None:
    shop = open_deferred()
    shop.fill_card(VISA)

    sandbox.set_faults(fail_rate=1.0, fail_mode=fail_mode)
    assert shop.pay()["error"]["type"] == error_type

    sandbox.set_faults()
    assert shop.pay()["confirmationToken"]["id"].startswith("ctoken_")


def server_confirms(shop: ShopPage, token_id: str, amount: int = 2000) -> Any:
    """What the shop's server does with the token: create and confirm a PaymentIntent at once."""
    return shop.sandbox.client().v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "confirm": True,
            "confirmation_token": token_id,
        }
    )


def pay_deferred(shop: ShopPage, number: str) -> Any:
    """Fill in a card, press Pay (submit + ConfirmationToken), and confirm it on the server."""
    shop.fill_card(number)
    token = shop.pay()["confirmationToken"]
    return server_confirms(shop, token["id"])


@pytest.mark.browser
def test_handle_next_action_approved_3ds_succeeds(open_deferred: Any, page: Page) -> None:
    shop = open_deferred()
    intent = pay_deferred(shop, "4000002500003155")
    assert intent.status == "requires_action"

    page.evaluate(f"void shop.handleNextAction({json.dumps(intent.client_secret)})")
    shop.authenticate("Complete authentication")
    outcome = shop.result()

    assert outcome["paymentIntent"]["id"] == intent.id
    assert outcome["paymentIntent"]["status"] == "succeeded"
    assert "latest_charge" not in outcome["paymentIntent"]  # the publishable key's view
    expect(page.get_by_role("dialog")).to_have_count(0)
    server = shop.sandbox.client().v1.payment_intents.retrieve(intent.id)
    assert server.status == "succeeded"
    assert server.latest_charge
    assert_never_saw_the_card(shop, "4000002500003155")


@pytest.mark.browser
def test_handle_next_action_failed_3ds_needs_another_card(open_deferred: Any, page: Page) -> None:
    shop = open_deferred()
    intent = pay_deferred(shop, "4000002760003184")

    page.evaluate(f"void shop.handleNextAction({json.dumps(intent.client_secret)})")
    shop.authenticate("Fail authentication")
    error = shop.result()["error"]

    assert error["type"] == "invalid_request_error"
    assert error["code"] == "payment_intent_authentication_failure"
    assert error["message"] == (
        "We are unable to authenticate your payment method. "
        "Please choose a different payment method and try again."
    )
    assert error["payment_intent"]["id"] == intent.id
    assert error["payment_intent"]["status"] == "requires_payment_method"
    server = shop.sandbox.client().v1.payment_intents.retrieve(intent.id)
    assert server.status == "requires_payment_method"
    assert server.last_payment_error.code == "payment_intent_authentication_failure"


@pytest.mark.browser
def test_handle_next_action_then_a_decline(open_deferred: Any, page: Page) -> None:
    shop = open_deferred()
    intent = pay_deferred(shop, "4000008260003178")

    page.evaluate(f"void shop.handleNextAction({json.dumps(intent.client_secret)})")
    shop.authenticate("Complete authentication")
    error = shop.result()["error"]

    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    assert error["message"] == "Your card has insufficient funds."
    assert error["payment_intent"]["status"] == "requires_payment_method"


@pytest.mark.browser
def test_handle_next_action_refuses_an_intent_that_needs_none(
    open_deferred: Any, page: Page, sandbox: Any
) -> None:
    open_deferred()
    intent = sandbox.client().v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})

    outcome = settle(
        page, f"shop.stripe.handleNextAction({{clientSecret: '{intent.client_secret}'}})"
    )

    assert outcome == (
        "IntegrationError: stripe.handleNextAction(): the PaymentIntent must have the status "
        "requires_action; it has requires_payment_method."
    )
    wrong = intent.client_secret[:-3] + "abc"
    result = page.evaluate(f"shop.stripe.handleNextAction({{clientSecret: '{wrong}'}})")
    assert result["error"]["type"] == "invalid_request_error"
    assert result["error"]["param"] == "client_secret"


@pytest.mark.browser
@pytest.mark.parametrize(
    ("url", "navigates"),
    [("{shop}/return?from=bank", True), ("javascript:alert(1)", False)],
)
def test_handle_next_action_follows_a_redirect_next_action(
    open_deferred: Any, page: Page, sandbox: Any, shop_origin: str, url: str, navigates: bool
) -> None:
    # The sandbox's cards always use Stripe.js's 3D Secure modal (use_stripe_sdk); a redirect-type
    # next action, as a bank's page or another payment method has, is served here by the browser.
    open_deferred()
    intent = sandbox.client().v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
    redirect = url.format(shop=shop_origin)
    view = {
        "id": intent.id,
        "object": "payment_intent",
        "client_secret": intent.client_secret,
        "status": "requires_action",
        "next_action": {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": redirect, "return_url": f"{shop_origin}/return"},
        },
    }
    page.route(
        f"{sandbox.url}/v1/payment_intents/{intent.id}?*",
        lambda route: route.fulfill(
            json=view, headers={"Access-Control-Allow-Origin": shop_origin}
        ),
    )

    call = f"shop.handleNextAction({json.dumps(intent.client_secret)})"
    if navigates:
        page.evaluate(f"void {call}")
        page.wait_for_url(redirect)
        assert page.title() == "Order complete"
    else:
        page.evaluate(call)
        error = json.loads(page.locator("#result[data-done]").text_content() or "null")["error"]
        assert error["type"] == "api_error"
        assert page.url.startswith(f"{shop_origin}/deferred")


@pytest.mark.browser
def test_deferred_elements_can_still_confirm_in_the_browser(
    open_deferred: Any, page: Page, sandbox: Any
) -> None:
    # Stripe.js's other deferred flow: the intent is made after submit, and the page confirms it.
    shop = open_deferred(amount=2000)
    shop.fill_card(VISA)
    assert page.evaluate("shop.elements.submit()") == {"selectedPaymentMethod": "card"}
    intent = sandbox.client().v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})

    outcome = page.evaluate(
        "shop.stripe.confirmPayment({elements: shop.elements, redirect: 'if_required', "
        f"clientSecret: {json.dumps(intent.client_secret)}}})"
    )

    assert outcome["paymentIntent"]["status"] == "succeeded"
    assert sandbox.client().v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert_never_saw_the_card(shop, VISA)


# The billing country: the postal field follows it, as in Stripe's Payment Element.


def sent_params(requests: list[Any]) -> dict[str, list[str]]:
    """The form the card frame posted to create a ConfirmationToken."""
    (post,) = [request for request in requests if request.method == "POST"]
    return parse_qs(post.post_data or "")


@pytest.mark.browser
def test_a_us_billing_address_keeps_a_zip_code_of_five_or_nine_digits(open_checkout: Any) -> None:
    checkout = open_checkout()  # no defaultValues: the select starts at the US
    expect(checkout.country).to_have_value("US")
    zip_code = checkout.frame.get_by_label("ZIP code")
    expect(zip_code).to_have_attribute("inputmode", "numeric")

    checkout.fill_card(VISA, postal="1234")
    zip_code.blur()
    expect(checkout.frame.get_by_text("Your ZIP code is incomplete.")).to_be_visible()
    assert checkout.pay()["submitError"] == {
        "type": "validation_error",
        "code": "incomplete_zip",
        "message": "Your ZIP code is incomplete.",
    }

    zip_code.fill("12345-6789")
    expect(zip_code).to_have_attribute("aria-invalid", "false")
    assert checkout.pay()["paymentIntent"]["status"] == "succeeded"
    method = checkout.sandbox.client().v1.payment_methods.retrieve(
        checkout.server_intent().payment_method
    )
    assert method.billing_details.address.country == "US"
    assert method.billing_details.address.postal_code == "12345-6789"


@pytest.mark.browser
@pytest.mark.parametrize("postcode", ["049315", "018937"])
def test_a_singapore_billing_address_takes_a_six_digit_postal_code(
    open_deferred: Any, page: Page, sandbox: Any, postcode: str
) -> None:
    shop = open_deferred()  # the page's defaultValues: Singapore
    expect(shop.country).to_have_value("SG")
    postal = shop.frame.get_by_label("Postal code")
    expect(postal).to_have_attribute("inputmode", "numeric")
    expect(shop.frame.get_by_label("ZIP code")).to_have_count(0)
    requests = api_requests(page)

    shop.fill_card(VISA, postal=postcode)
    postal.blur()

    expect(postal).to_have_attribute("aria-invalid", "false")
    token = shop.pay()["confirmationToken"]
    preview = sandbox.client().v1.confirmation_tokens.retrieve(token["id"]).payment_method_preview
    address = preview.billing_details.address
    assert (address.country, address.postal_code) == ("SG", postcode)
    sent = sent_params(requests)
    assert sent["payment_method_data[billing_details][address][postal_code]"] == [postcode]


@pytest.mark.browser
def test_a_singapore_postal_code_of_five_digits_is_incomplete(
    open_deferred: Any, page: Page
) -> None:
    shop = open_deferred()
    requests = api_requests(page)
    shop.fill_card(VISA, postal="12345")
    shop.postal.blur()
    expect(shop.frame.get_by_text("Your postal code is incomplete.")).to_be_visible()

    error = shop.pay()["submitError"]

    assert error == {
        "type": "validation_error",
        "code": "incomplete_zip",
        "message": "Your postal code is incomplete.",
    }
    postal = shop.frame.get_by_label("Postal code")
    expect(postal).to_have_attribute("aria-invalid", "true")
    expect(postal).to_be_focused()
    message = shop.frame.locator(f"#{postal.get_attribute('aria-describedby')}")
    expect(message).to_have_text("Your postal code is incomplete.")
    # Only digits fit a Singapore postcode, and no more than six.
    postal.fill("01-89 37x9")
    expect(postal).to_have_value("018937")
    assert requests == []


@pytest.mark.browser
@pytest.mark.parametrize(
    ("country", "typed", "kept"),
    [
        ("GB", "SW1A 1AA", "SW1A 1AA"),
        ("GB", "ec1a1bb", "EC1A1BB"),
        ("GB", "M1 1AE", "M1 1AE"),
        ("CA", "k1a 0b1", "K1A 0B1"),
    ],
)
def test_a_postal_code_with_letters_is_taken_in_either_case(
    open_deferred: Any, page: Page, sandbox: Any, country: str, typed: str, kept: str
) -> None:
    shop = open_deferred()
    shop.country.select_option(country)
    postal = shop.frame.get_by_label("Postal code")
    expect(postal).not_to_have_attribute("inputmode", "numeric")
    requests = api_requests(page)

    shop.fill_card(VISA, postal=typed)

    expect(postal).to_have_value(kept)
    token = shop.pay()["confirmationToken"]
    sent = sent_params(requests)
    assert sent["payment_method_data[billing_details][address][country]"] == [country]
    assert sent["payment_method_data[billing_details][address][postal_code]"] == [kept]
    preview = sandbox.client().v1.confirmation_tokens.retrieve(token["id"]).payment_method_preview
    assert preview.billing_details.address.country == country


@pytest.mark.browser
@pytest.mark.parametrize(("country", "postcode"), [("GB", "1AB 2CD"), ("CA", "A1A A1A")])
def test_a_postal_code_in_the_wrong_shape_is_invalid(
    open_deferred: Any, country: str, postcode: str
) -> None:
    shop = open_deferred()
    shop.country.select_option(country)

    shop.fill_card(VISA, postal=postcode)
    shop.postal.blur()  # the message shows on leaving the field (and moves the Pay button down)

    expect(shop.frame.get_by_text("Your postal code is invalid.")).to_be_visible()
    assert shop.pay()["submitError"] == {
        "type": "validation_error",
        "code": "invalid_zip",
        "message": "Your postal code is invalid.",
    }


@pytest.mark.browser
def test_a_country_without_postal_codes_on_cards_shows_no_postal_field_and_sends_none(
    open_deferred: Any, page: Page, sandbox: Any
) -> None:
    shop = open_deferred()
    shop.frame.get_by_label("Postal code").fill("018937")
    shop.country.select_option("DE")
    expect(shop.postal).to_be_hidden()
    expect(shop.frame.get_by_role("textbox")).to_have_count(3)
    requests = api_requests(page)

    shop.fill_card(VISA)  # nothing to type in a postal field
    assert page.evaluate("shop.changes.at(-1).complete") is True
    token = shop.pay()["confirmationToken"]

    sent = sent_params(requests)
    assert sent["payment_method_data[billing_details][address][country]"] == ["DE"]
    assert "payment_method_data[billing_details][address][postal_code]" not in sent
    address = (
        sandbox.client()
        .v1.confirmation_tokens.retrieve(token["id"])
        .payment_method_preview.billing_details.address
    )
    assert (address.country, address.postal_code) == ("DE", None)


@pytest.mark.browser
def test_changing_the_country_relabels_and_revalidates_the_postal_field(
    open_deferred: Any, page: Page
) -> None:
    shop = open_deferred()
    shop.fill_card(VISA, postal="12345")
    postal = shop.frame.locator("#postal-code")
    postal.blur()
    error = shop.frame.locator("#postal-code-error")
    expect(error).to_have_text("Your postal code is incomplete.")
    assert page.evaluate("shop.changes.at(-1).complete") is False

    shop.country.select_option("US")
    expect(shop.frame.get_by_label("ZIP code")).to_have_value("12345")
    expect(postal).to_have_attribute("aria-invalid", "false")
    expect(error).to_be_empty()
    page.wait_for_function("shop.changes.at(-1).complete === true")

    shop.country.select_option("GB")
    expect(shop.frame.get_by_label("Postal code")).to_have_attribute("aria-invalid", "true")
    expect(error).to_have_text("Your postal code is invalid.")
    page.wait_for_function("shop.changes.at(-1).complete === false")

    shop.country.select_option("JP")
    expect(shop.postal).to_be_hidden()
    page.wait_for_function("shop.changes.at(-1).complete === true")
    # The shopper's choice, not the page's default, goes with the card.
    requests = api_requests(page)
    assert shop.pay()["confirmationToken"]["id"].startswith("ctoken_")
    sent = sent_params(requests)
    assert sent["payment_method_data[billing_details][address][country]"] == ["JP"]
    assert "payment_method_data[billing_details][address][postal_code]" not in sent
