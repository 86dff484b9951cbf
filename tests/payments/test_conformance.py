"""Every call the shop makes to Stripe, driven through the gateway: what it sends exists in
stripe-python's parameters for that call (so Stripe accepts it), and what Stripe answers reads."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bookshop.address import Address
from bookshop.basket import Basket, line
from bookshop.config import Settings
from bookshop.payments import Payments
from bookshop.payments.transport import CurlClient
from bookshop.sandbox import params, validation
from bookshop.shipping import default_rates
from tests.fixtures.app import BOOKS, SINGAPORE
from tests.fixtures.paying import DECLINED, THREE_D_SECURE, VISA, confirmation_token
from tests.fixtures.sandbox import SandboxServer

# Each public method of the gateway, driven below. A new one must be added here (and driven), or
# the first test fails: no call to Stripe goes unchecked.
DRIVEN = {
    "cancel",
    "checkout_intent",
    "confirmation_token",
    "dashboard_url",
    "pay",
    "intent",
    "payment_result",
    "list_intents",
    "refund",
    "verify_webhook",
}
Sent = tuple[str, str, dict[str, Any]]
PAYMENTS = Path(__file__).parents[2] / "bookshop" / "payments"
# How the gateway's source writes a call to Stripe, and the endpoint each form reaches.
RAW_CALL = re.compile(
    r'self\._request, "(get|post)", ("/v1/[^"]*"|_intent_path\(\w+(?:, "(/\w+)")?\)|_token_path\()'
)
SERVICE_CALL = re.compile(r"self\._client\.v1\.(\w+)\.(\w+)\(")
SERVICE_ENDPOINTS = {("payment_intents", "list"): ("GET", "/v1/payment_intents")}
ANY_CALL = re.compile(r"self\._request\b(?!\()|self\._client\.(?!construct_event\b|raw_request\b)")
# Where the books go: every field of Stripe's `shipping` filled in at least once.
HOME = Address(**SINGAPORE)
OFFICE = Address(
    "Ada Reader",
    "2 Jalan Ampang",
    "Level 5",
    "Kuala Lumpur",
    "WP",
    "50450",
    "MY",
    "+60 3 2345 6789",
)


def stripe_calls_in_the_code(folder: Path = PAYMENTS) -> set[tuple[str, str]]:
    """Every call to Stripe's API written in bookshop/payments, read from the source: a call
    written in a form this cannot read fails, so none escapes the check below."""
    calls: set[tuple[str, str]] = set()
    for path in sorted(folder.glob("*.py")):
        source = path.read_text()
        for method, target, action in RAW_CALL.findall(source):
            if target.startswith('"'):
                endpoint = target.strip('"')
            elif target.startswith("_token_path"):
                endpoint = "/v1/confirmation_tokens/{confirmation_token}"
            else:
                endpoint = "/v1/payment_intents/{intent}" + action
            calls.add((method.upper(), endpoint))
        for service in SERVICE_CALL.findall(source):
            assert service in SERVICE_ENDPOINTS, f"{path.name}: map {service} to its endpoint here"
            calls.add(SERVICE_ENDPOINTS[service])
        written = len(ANY_CALL.findall(source))
        read = len(RAW_CALL.findall(source)) + len(SERVICE_CALL.findall(source))
        assert written == read, f"{path.name}: a call to Stripe in a form this test cannot read"
    return calls


@pytest.mark.parametrize(
    "call",
    [
        'self._client.v1.refunds.create(params={"payment_intent": intent_id})',
        'self._call(self._request, "post", f"/v1/payment_intents/{intent_id}/cancel")',
    ],
)
def test_a_call_to_stripe_the_code_reading_cannot_place_fails_it(tmp_path: Path, call: str) -> None:
    (tmp_path / "gateway.py").write_text((PAYMENTS / "gateway.py").read_text() + call + "\n")
    with pytest.raises(AssertionError):
        stripe_calls_in_the_code(tmp_path)


@pytest.fixture
def payments(settings: Settings) -> Iterator[Payments]:
    gateway = Payments(settings)
    yield gateway
    gateway.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every request the gateway puts on the wire: method, path, decoded parameters."""
    requests: list[Sent] = []
    request = CurlClient.request

    def recording(self: CurlClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        body = args[1] if len(args) > 1 else kwargs.get("post_data")
        raw = parts.query if method == "get" else (body or "")
        requests.append((method.upper(), parts.path, params.parse_query(raw)))
        return request(self, method, url, *args, **kwargs)

    monkeypatch.setattr(CurlClient, "request", recording)
    return requests


def test_every_public_call_of_the_gateway_is_driven_here() -> None:
    public = {name for name, value in vars(Payments).items() if callable(value) and name[0] != "_"}
    assert public - {"close"} == DRIVEN


async def test_every_request_the_gateway_sends_is_one_stripe_accepts(
    payments: Payments, sandbox: SandboxServer, sent: list[Sent], settings: Settings
) -> None:
    books = [BOOKS[book_id] for book_id in ("code", "hackers")]
    basket = delivered(Basket(tuple(line(book, 2) for book in books if book)), HOME)
    fewer = delivered(Basket(basket.lines[:1]), OFFICE)
    checkout = secrets.token_urlsafe(12)
    back = "http://127.0.0.1/success"

    token = await payments.confirmation_token(confirmation_token(sandbox, DECLINED))  # read
    opened = await payments.pay(basket, checkout, token.id, "c@example.com", back, None)  # create
    declined = await payments.intent(opened.id)  # retrieve
    # A retry for another order: update, then confirm.
    changed = await payments.pay(
        fewer, checkout, confirmation_token(sandbox, VISA), "c@example.com", back, declined
    )
    paid = await payments.payment_result(changed.id, changed.client_secret)
    again = await payments.intent(changed.id)
    listed = await payments.list_intents(datetime.now(UTC) - timedelta(minutes=5))
    found = await payments.checkout_intent(checkout, datetime.now(UTC) - timedelta(minutes=5))
    part = await payments.refund(paid.id, "damaged book", amount=100, key=f"part-{paid.id}")
    refunded = await payments.refund(paid.id, "out of stock")
    link = payments.dashboard_url(paid.id)  # no call: the sandbox has no dashboard page
    waiting = await payments.pay(
        basket,
        secrets.token_urlsafe(12),
        confirmation_token(sandbox, THREE_D_SECURE),
        "c@example.com",
        back,
        None,
    )
    canceled = await payments.cancel(waiting.id)
    too_late = await payments.cancel(paid.id)  # paid already: Stripe refuses, the read says so
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "object": "payment_intent",
                "id": paid.id,
                "status": "succeeded",
                "amount": paid.amount,
                "currency": "sgd",
            }
        },
    }
    body = json.dumps(event).encode()
    stamp = int(time.time())
    secret = settings.stripe_webhook_secret
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    verified = payments.verify_webhook(body, f"t={stamp},v1={signature}", secret)

    # Every answer read: Stripe's JSON became the shop's types.
    assert (paid.outcome, again.charge_id, verified.intent_id) == (
        "succeeded",
        paid.charge_id,
        paid.id,
    )
    assert part.charge is not None and part.charge.amount_refunded == 100
    assert refunded.charge is not None and refunded.charge.refunded
    assert [refund.amount for refund in refunded.charge.refunds][1:] == [100]
    assert link is None
    assert (waiting.status, canceled.status, too_late.status) == (
        "requires_action",
        "canceled",
        "succeeded",
    )
    assert any(intent.id == paid.id for intent in listed)
    assert found is not None and found.id == paid.id
    assert (opened.outcome, opened.address, token.address) == ("declined", HOME, None)
    assert (changed.address, changed.amount, changed.id) == (OFFICE, fewer.total, opened.id)
    # Every request was one of Stripe's calls, with only the parameters Stripe takes for it.
    calls = set()
    shipped = []
    for method, path, parameters in sent:
        endpoint, _ = validation.match(method, path) or (None, None)
        assert endpoint is not None, f"{method} {path} is not a call the sandbox knows"
        validation.check(endpoint, parameters)
        calls.add((method, endpoint.path))
        if "shipping" in parameters:
            shipped.append((endpoint.path, parameters["shipping"]))
    # The address went out (and was checked above) on the creates and the update.
    assert shipped == [
        ("/v1/payment_intents", HOME.to_stripe()),
        ("/v1/payment_intents/{intent}", OFFICE.to_stripe()),
        ("/v1/payment_intents", HOME.to_stripe()),  # the payment canceled
    ]
    # ...and every call written in the code was among them: a new one must be driven above.
    assert (
        calls
        == stripe_calls_in_the_code()
        == {
            ("GET", "/v1/confirmation_tokens/{confirmation_token}"),
            ("POST", "/v1/payment_intents"),
            ("GET", "/v1/payment_intents/{intent}"),
            ("POST", "/v1/payment_intents/{intent}"),
            ("POST", "/v1/payment_intents/{intent}/confirm"),
            ("POST", "/v1/payment_intents/{intent}/cancel"),
            ("GET", "/v1/payment_intents"),
            ("POST", "/v1/refunds"),
        }
    )


def delivered(basket: Basket, address: Address) -> Basket:
    """The basket going to `address`, at the shop's rate for its country."""
    zone = default_rates().zone(address.country)
    assert zone is not None, f"the shop does not ship to {address.country}"
    return basket.delivered(address, zone.cost(basket.count, basket.subtotal))
