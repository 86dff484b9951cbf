"""ConfirmationTokens ("finalize payments on the server"): made by Stripe.js in the card iframe
(publishable key) or by the test helper (secret key), then used once by the server to create and
confirm a PaymentIntent, or to confirm one; through the real stripe-python."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from bookshop.sandbox import cards
from bookshop.sandbox.app import create_sandbox_app
from bookshop.sandbox.settings import DEFAULT_SECRET_KEY, SandboxSettings
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.stripe_data import card_table
from tests.sandbox.helpers import card_data, new_intent

# Stripe's ready-made test PaymentMethods (cards of the test-card table): brand, last four digits,
# and what confirming with each does (status, and the code and decline code of a decline).
TEST_METHODS: dict[str, tuple[str, str, str, str | None, str | None]] = {
    "pm_card_visa": ("visa", "4242", "succeeded", None, None),
    "pm_card_mastercard": ("mastercard", "4444", "succeeded", None, None),
    "pm_card_chargeDeclined": (
        "visa",
        "0002",
        "requires_payment_method",
        "card_declined",
        "generic_decline",
    ),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "visa",
        "9995",
        "requires_payment_method",
        "card_declined",
        "insufficient_funds",
    ),
    "pm_card_chargeDeclinedExpiredCard": (
        "visa",
        "0069",
        "requires_payment_method",
        "expired_card",
        None,
    ),
    "pm_card_threeDSecure2Required": ("visa", "3184", "requires_action", None, None),
    "pm_card_authenticationRequired": ("visa", "3155", "requires_action", None, None),
}
SHIPPING: dict[str, Any] = {
    "name": "Ada Reader",
    "phone": "+44 20 7946 0000",
    "address": {
        "line1": "1 Book Street",
        "city": "London",
        "postal_code": "N1 9GU",
        "country": "GB",
    },
}
RETURN_URL = "https://shop.example/checkout/done"
TWELVE_HOURS = 12 * 60 * 60
CARD_FORM = {
    "payment_method_data[type]": "card",
    "payment_method_data[card][number]": "4242424242424242",
    "payment_method_data[card][exp_month]": "12",
    "payment_method_data[card][exp_year]": "2034",
    "payment_method_data[card][cvc]": "123",
    "payment_method_data[billing_details][name]": "Ada Reader",
    "payment_method_data[billing_details][email]": "ada@example.com",
    "payment_method_data[billing_details][address][postal_code]": "N1 9GU",
    "payment_method_data[billing_details][address][country]": "GB",
    "shipping[name]": "Ada Reader",
    "shipping[address][line1]": "1 Book Street",
    "shipping[address][city]": "London",
    "shipping[address][postal_code]": "N1 9GU",
    "shipping[address][country]": "GB",
    "return_url": RETURN_URL,
}


@pytest.fixture
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return sandbox.client()


def token_for(client: stripe.StripeClient, method: str, **params: Any) -> stripe.ConfirmationToken:
    """A ConfirmationToken from the test helper, paying with one of Stripe's test methods."""
    return client.v1.test_helpers.confirmation_tokens.create({"payment_method": method, **params})


def create_and_confirm(
    client: stripe.StripeClient, token_id: str, options: Any = None, **params: Any
) -> stripe.PaymentIntent:
    """The server's one call of "finalize payments on the server" (`options`: stripe-python's
    request options, such as the idempotency key)."""
    create = {"amount": 2500, "currency": "gbp", "confirm": True, "confirmation_token": token_id}
    return client.v1.payment_intents.create({**create, **params}, options)


def browser_token(sandbox: SandboxServer, form: dict[str, str] | None = None) -> httpx.Response:
    """POST /v1/confirmation_tokens as the card iframe sends it: the publishable key as `key`."""
    return httpx.post(
        f"{sandbox.url}/v1/confirmation_tokens",
        data={"key": sandbox.publishable_key, **(form or CARD_FORM)},
        headers={"Origin": "http://127.0.0.1:5000"},
    )


def newest_intent_id(client: stripe.StripeClient) -> str | None:
    newest = client.v1.payment_intents.list({"limit": 1}).data
    return newest[0].id if newest else None


def test_the_test_methods_are_the_card_table_s_cards() -> None:
    scenarios = {row["number"]: row for row in card_table()}
    for method, (_, last4, status, code, decline_code) in TEST_METHODS.items():
        number = cards.TEST_PAYMENT_METHODS[method]
        row = scenarios[number]
        assert number.endswith(last4)
        assert row["result"].startswith(status)
        assert (row["code"], row["decline_code"]) == (code or "-", decline_code or "-")


@pytest.mark.parametrize("method", TEST_METHODS)
def test_the_test_helper_makes_a_token_that_previews_the_card(
    client: stripe.StripeClient, method: str
) -> None:
    brand, last4, *_ = TEST_METHODS[method]
    token = token_for(client, method, shipping=SHIPPING, return_url=RETURN_URL)
    assert token.id.startswith("ctoken_") and token.object == "confirmation_token"
    assert token.expires_at == token.created + TWELVE_HOURS
    assert (token.payment_intent, token.setup_intent, token.livemode) == (None, None, False)
    assert token.use_stripe_sdk is True
    assert (token.return_url, token.shipping.name) == (RETURN_URL, "Ada Reader")
    assert token.shipping.address.line1 == "1 Book Street"
    retrieved = client.v1.confirmation_tokens.retrieve(token.id)
    assert retrieved.to_dict() == token.to_dict()
    preview = retrieved.payment_method_preview
    assert preview.type == "card"
    assert (preview.card.brand, preview.card.last4) == (brand, last4)
    assert preview.card.exp_year > time.gmtime().tm_year
    assert cards.TEST_PAYMENT_METHODS[method] not in json.dumps(retrieved.last_response.data)


@pytest.mark.parametrize("method", TEST_METHODS)
def test_create_and_confirm_in_one_call_does_what_the_card_does(
    client: stripe.StripeClient, method: str
) -> None:
    _, _, status, code, decline_code = TEST_METHODS[method]
    token = token_for(client, method)
    if code is None:
        intent = create_and_confirm(client, token.id, receipt_email="ada@example.com")
    else:
        with pytest.raises(stripe.CardError) as caught:
            create_and_confirm(client, token.id, receipt_email="ada@example.com")
        assert caught.value.http_status == 402
        assert (caught.value.code, caught.value.json_body["error"].get("decline_code")) == (  # type: ignore[index]
            code,
            decline_code,
        )
        intent = client.v1.payment_intents.retrieve(
            caught.value.json_body["error"]["payment_intent"]["id"]  # type: ignore[index]
        )
        assert intent.last_payment_error is not None
        error = intent.last_payment_error.to_dict()
        assert (error["code"], error.get("decline_code")) == (code, decline_code)
    assert intent.status == status
    assert intent.receipt_email == "ada@example.com"
    if status == "succeeded":
        charge = client.v1.charges.retrieve(str(intent.latest_charge))
        assert charge.payment_method_details is not None
        assert charge.payment_method_details.card is not None
        assert charge.payment_method_details.card.last4 == TEST_METHODS[method][1]
    if status == "requires_action":
        assert intent.next_action is not None
        assert intent.next_action.type == "use_stripe_sdk"
    assert client.v1.confirmation_tokens.retrieve(token.id).payment_intent == intent.id


@pytest.mark.parametrize(
    ("method", "approve", "status"),
    [
        ("pm_card_threeDSecure2Required", "approve", "succeeded"),
        ("pm_card_authenticationRequired", "fail", "requires_payment_method"),
        ("pm_card_authenticationRequiredChargeDeclinedInsufficientFunds", "approve", None),
    ],
)
def test_the_3d_secure_challenge_a_token_s_card_asks_for_settles_the_intent(
    sandbox: SandboxServer,
    client: stripe.StripeClient,
    method: str,
    approve: str,
    status: str | None,
) -> None:
    asked = create_and_confirm(client, token_for(client, method).id)
    assert asked.status == "requires_action"
    verdict = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{asked.id}",
        data={"client_secret": asked.client_secret, "result": approve},
    )
    assert verdict.status_code == 200
    settled = client.v1.payment_intents.retrieve(asked.id)
    assert settled.status == (status or "requires_payment_method")
    if status is None:  # authenticated, then declined
        assert settled.last_payment_error is not None
        assert settled.last_payment_error.decline_code == "insufficient_funds"


def test_a_token_s_shipping_is_written_onto_the_intent(client: stripe.StripeClient) -> None:
    token = token_for(client, "pm_card_visa", shipping=SHIPPING, return_url=RETURN_URL)
    intent = create_and_confirm(client, token.id)
    assert intent.shipping is not None
    assert (intent.shipping.name, intent.shipping.phone) == ("Ada Reader", "+44 20 7946 0000")
    assert intent.shipping.address.postal_code == "N1 9GU"
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert charge.shipping is not None and charge.shipping.name == "Ada Reader"


def test_the_request_s_shipping_takes_precedence_over_the_token_s(
    client: stripe.StripeClient,
) -> None:
    token = token_for(client, "pm_card_visa", shipping=SHIPPING)
    other = {"name": "Grace Hopper", "address": {"line1": "2 Navy Yard", "country": "US"}}
    intent = create_and_confirm(client, token.id, shipping=other)
    assert intent.shipping is not None and intent.shipping.name == "Grace Hopper"


def test_an_existing_intent_is_confirmed_with_a_token(client: stripe.StripeClient) -> None:
    intent = new_intent(client, metadata={"order": "42"})
    token = token_for(client, "pm_card_mastercard")
    confirmed = client.v1.payment_intents.confirm(
        intent.id,
        {
            "confirmation_token": token.id,
            "receipt_email": "ada@example.com",
            "return_url": RETURN_URL,
        },
    )
    assert (confirmed.status, confirmed.receipt_email) == ("succeeded", "ada@example.com")
    method = client.v1.payment_methods.retrieve(str(confirmed.payment_method))
    assert method.card is not None and method.card.brand == "mastercard"
    assert client.v1.confirmation_tokens.retrieve(token.id).payment_intent == intent.id


def test_a_declined_intent_is_paid_with_a_second_token(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as caught:
        create_and_confirm(client, token_for(client, "pm_card_chargeDeclined").id)
    intent_id = caught.value.json_body["error"]["payment_intent"]["id"]  # type: ignore[index]
    retry = token_for(client, "pm_card_visa")
    paid = client.v1.payment_intents.confirm(intent_id, {"confirmation_token": retry.id})
    assert paid.status == "succeeded"


def test_a_token_made_from_a_payment_method_pays_with_that_method(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    pk = sandbox.client(api_key=sandbox.publishable_key)
    method = pk.v1.payment_methods.create(card_data("5555555555554444"))  # type: ignore[arg-type]
    token = token_for(client, method.id)
    assert token.payment_method_preview is not None
    assert token.payment_method_preview.card is not None
    assert token.payment_method_preview.card.fingerprint == method.card.fingerprint  # type: ignore[union-attr]
    assert create_and_confirm(client, token.id).payment_method == method.id


def test_a_token_is_used_once(client: stripe.StripeClient) -> None:
    token = token_for(client, "pm_card_visa")
    first = create_and_confirm(client, token.id)
    message = (
        f"You cannot use a ConfirmationToken more than once: {token.id}. It was used to "
        f"confirm {first.id}; create a new ConfirmationToken to pay again."
    )
    newest = newest_intent_id(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_and_confirm(client, token.id)
    assert caught.value.http_status == 400
    assert (caught.value.code, caught.value.param) == ("token_already_used", "confirmation_token")
    assert caught.value.user_message == message
    assert newest_intent_id(client) == newest  # the refused create made no intent
    other = new_intent(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(other.id, {"confirmation_token": token.id})
    assert (caught.value.code, caught.value.user_message) == ("token_already_used", message)
    assert client.v1.payment_intents.retrieve(other.id).status == "requires_payment_method"


def test_a_declined_token_is_spent_too(client: stripe.StripeClient) -> None:
    token = token_for(client, "pm_card_chargeDeclinedInsufficientFunds")
    with pytest.raises(stripe.CardError):
        create_and_confirm(client, token.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_and_confirm(client, token.id)
    assert caught.value.code == "token_already_used"


def test_a_retried_request_replays_its_answer_rather_than_spending_the_token_twice(
    client: stripe.StripeClient,
) -> None:
    token = token_for(client, "pm_card_visa")
    key = f"pay-{token.id}"
    first = create_and_confirm(client, token.id, {"idempotency_key": key})
    again = create_and_confirm(client, token.id, {"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"


@pytest.fixture
def short_lived_tokens(sandbox: SandboxServer) -> Iterator[None]:
    """New tokens expire at once while the test runs (the sandbox's lifetime setting)."""
    control = f"{sandbox.url}/_sandbox/confirmation_tokens"
    auth = {"Authorization": f"Bearer {sandbox.secret_key}"}
    before = httpx.get(control, headers=auth).json()["lifetime_s"]
    assert httpx.post(control, headers=auth, json={"lifetime_s": 0}).json() == {"lifetime_s": 0}
    yield
    httpx.post(control, headers=auth, json={"lifetime_s": before}).raise_for_status()


def test_an_expired_token_is_refused(client: stripe.StripeClient, short_lived_tokens: None) -> None:
    token = token_for(client, "pm_card_visa")
    assert token.expires_at == token.created
    newest = newest_intent_id(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_and_confirm(client, token.id)
    assert (caught.value.http_status, caught.value.param) == (400, "confirmation_token")
    assert caught.value.user_message == (
        f"This ConfirmationToken has expired: {token.id}. It can no longer be used to confirm a "
        "PaymentIntent; create a new ConfirmationToken."
    )
    assert newest_intent_id(client) == newest
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.confirm(new_intent(client).id, {"confirmation_token": token.id})
    # Still there to read, unused.
    assert client.v1.confirmation_tokens.retrieve(token.id).payment_intent is None


async def test_the_lifetime_is_a_sandbox_setting() -> None:
    app = create_sandbox_app(SandboxSettings(confirmation_token_lifetime_s=90))
    made = await app.test_client().post(
        "/v1/test_helpers/confirmation_tokens",
        form={"payment_method": "pm_card_visa"},
        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"},
    )
    token = await made.get_json()
    assert token["expires_at"] == token["created"] + 90


def test_the_lifetime_control_takes_only_the_secret_key_and_whole_seconds(
    sandbox: SandboxServer,
) -> None:
    control = f"{sandbox.url}/_sandbox/confirmation_tokens"
    publishable = {"Authorization": f"Bearer {sandbox.publishable_key}"}
    assert httpx.post(control, headers=publishable, json={"lifetime_s": 0}).status_code == 401
    secret = {"Authorization": f"Bearer {sandbox.secret_key}"}
    for wrong in (-1, "soon", 1.5):
        answer = httpx.post(control, headers=secret, json={"lifetime_s": wrong})
        assert answer.status_code == 400
    assert httpx.get(control, headers=secret).json() == {"lifetime_s": TWELVE_HOURS}


def test_confirmation_token_needs_confirm_on_create(client: stripe.StripeClient) -> None:
    token = token_for(client, "pm_card_visa")
    newest = newest_intent_id(client)
    for name, value in (("confirmation_token", token.id), ("return_url", RETURN_URL)):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.payment_intents.create({"amount": 2500, "currency": "gbp", name: value})  # type: ignore[misc]
        assert (caught.value.code, caught.value.param) == ("payment_intent_invalid_parameter", name)
        assert caught.value.user_message == (
            f"The parameter `{name}` cannot be passed when creating a PaymentIntent unless "
            "`confirm` is set to true."
        )
    assert newest_intent_id(client) == newest
    assert client.v1.confirmation_tokens.retrieve(token.id).payment_intent is None


@pytest.mark.parametrize(
    ("other", "value"),
    [("payment_method", "pm_card_visa"), ("payment_method_data", {"type": "alipay"})],
)
def test_a_token_beside_a_payment_method_is_refused(
    client: stripe.StripeClient, other: str, value: Any
) -> None:
    token = token_for(client, "pm_card_visa")
    intent = new_intent(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(intent.id, {"confirmation_token": token.id, other: value})
    assert caught.value.user_message == (
        f"You may only specify one of these parameters: confirmation_token, {other}."
    )
    if other == "payment_method":
        with pytest.raises(stripe.InvalidRequestError) as caught:
            create_and_confirm(client, token.id, payment_method=value)
        assert caught.value.param == "confirmation_token"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"
    assert client.v1.confirmation_tokens.retrieve(token.id).payment_intent is None


def test_an_unknown_token_is_stripes_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_and_confirm(client, "ctoken_nope")
    assert (caught.value.http_status, caught.value.code) == (400, "resource_missing")
    assert caught.value.user_message == "No such confirmationtoken: 'ctoken_nope'"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.confirmation_tokens.retrieve("ctoken_nope")
    assert (caught.value.http_status, caught.value.param) == (404, "confirmation_token")


def test_the_publishable_key_is_refused_on_the_test_helper_and_on_retrieve(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    token = token_for(client, "pm_card_visa")
    pk = sandbox.client(api_key=sandbox.publishable_key)
    for call in (
        lambda: token_for(pk, "pm_card_visa"),
        lambda: pk.v1.confirmation_tokens.retrieve(token.id),
    ):
        with pytest.raises(stripe.AuthenticationError) as caught:
            call()
        assert "cannot be made with a publishable API key" in (caught.value.user_message or "")


def test_the_card_iframe_makes_a_token_with_the_publishable_key(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    made = browser_token(sandbox)
    assert made.status_code == 200, made.text
    assert made.headers["Access-Control-Allow-Origin"] == "*"
    token = made.json()
    assert "4242424242424242" not in made.text and '"cvc"' not in made.text
    preview = token["payment_method_preview"]
    assert (preview["card"]["brand"], preview["card"]["last4"]) == ("visa", "4242")
    assert (preview["card"]["exp_month"], preview["card"]["exp_year"]) == (12, 2034)
    assert preview["card"]["checks"]["cvc_check"] == "pass"
    assert preview["billing_details"]["email"] == "ada@example.com"
    assert token["shipping"]["address"]["city"] == "London"
    assert token["return_url"] == RETURN_URL
    intent = create_and_confirm(client, token["id"], receipt_email="ada@example.com")
    assert intent.status == "succeeded"
    method = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert method.billing_details.name == "Ada Reader"
    assert method.card is not None and method.card.last4 == "4242"


def test_the_publishable_key_also_works_as_a_bearer_token(sandbox: SandboxServer) -> None:
    made = httpx.post(
        f"{sandbox.url}/v1/confirmation_tokens",
        data=CARD_FORM,
        headers={"Authorization": f"Bearer {sandbox.publishable_key}"},
    )
    assert made.status_code == 200, made.text


def test_a_declining_card_makes_a_token_and_declines_at_confirm(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    made = browser_token(
        sandbox, {**CARD_FORM, "payment_method_data[card][number]": "4000000000009995"}
    )
    assert made.status_code == 200, made.text
    with pytest.raises(stripe.CardError) as caught:
        create_and_confirm(client, made.json()["id"])
    assert caught.value.json_body["error"]["decline_code"] == "insufficient_funds"  # type: ignore[index]


@pytest.mark.parametrize(
    ("number", "code", "param"),
    [
        ("4242424242424241", "incorrect_number", "number"),
        ("4242424242424242", "invalid_expiry_year", "exp_year"),
    ],
)
def test_card_details_stripe_refuses_make_no_token(
    sandbox: SandboxServer, number: str, code: str, param: str
) -> None:
    form = {**CARD_FORM, "payment_method_data[card][number]": number}
    if code == "invalid_expiry_year":
        form["payment_method_data[card][exp_year]"] = "2001"
    made = browser_token(sandbox, form)
    assert made.status_code == 402
    assert made.json()["error"]["type"] == "card_error"
    assert (made.json()["error"]["code"], made.json()["error"]["param"]) == (code, param)


def test_a_card_number_sent_with_the_secret_key_is_refused_as_stripe_refuses_it(
    sandbox: SandboxServer,
) -> None:
    for path in ("/v1/confirmation_tokens", "/v1/test_helpers/confirmation_tokens"):
        refused = httpx.post(
            f"{sandbox.url}{path}",
            data=CARD_FORM,
            headers={"Authorization": f"Bearer {sandbox.secret_key}"},
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith(
            "Sending credit card numbers directly to the Stripe API is generally unsafe."
        )


@pytest.mark.parametrize(
    ("field", "value", "code", "param"),
    [
        ("bogus", "1", "parameter_unknown", "bogus"),
        ("shipping[address][bogus]", "1", "parameter_unknown", "shipping[address][bogus]"),
        (
            "payment_method_data[billing_details][bogus]",
            "1",
            "parameter_unknown",
            "payment_method_data[billing_details][bogus]",
        ),
        (
            "payment_method_data[card][bogus]",
            "1",
            "parameter_unknown",
            "payment_method_data[card][bogus]",
        ),
        ("payment_method_data[type]", "cheque", None, "payment_method_data[type]"),
        ("shipping[name]", "", "parameter_invalid_empty", "shipping[name]"),
        ("return_url", "x" * 5001, None, "return_url"),
        ("setup_future_usage", "off_session", None, "setup_future_usage"),
    ],
)
def test_stripe_js_s_request_is_validated_at_every_depth(
    sandbox: SandboxServer, field: str, value: str, code: str | None, param: str
) -> None:
    refused = browser_token(sandbox, {**CARD_FORM, field: value})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error.get("code"), error["param"]) == (code, param)


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"bogus": "1"}, "parameter_unknown", "bogus"),
        (
            {"shipping": {**SHIPPING, "address": {"line1": "1", "bogus": "x"}}},
            "parameter_unknown",
            "shipping[address][bogus]",
        ),
        ({"shipping": {"address": {"line1": "1"}}}, "parameter_missing", "shipping[name]"),
        (
            {"shipping": {"name": "Ada", "address": {"city": "London"}}},
            "parameter_missing",
            "shipping[address][line1]",
        ),
        (
            {"payment_method_options": {"card": {"installments": {"plan": {"type": "x"}}}}},
            None,
            "payment_method_options[card][installments][plan][type]",
        ),
        (
            {"payment_method_options": {"card": {"installments": {"plan": {"type": "bonus"}}}}},
            None,
            "payment_method_options",
        ),
    ],
)
def test_the_test_helper_is_validated_at_every_depth(
    client: stripe.StripeClient, params: dict[str, Any], code: str | None, param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        token_for(client, "pm_card_visa", **params)
    assert (caught.value.http_status, caught.value.code, caught.value.param) == (400, code, param)


def test_a_token_needs_a_payment_method(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.test_helpers.confirmation_tokens.create({"return_url": RETURN_URL})
    assert caught.value.user_message == (
        "One of the following params should be provided for this request: payment_method or "
        "payment_method_data."
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        token_for(client, "pm_nope")
    assert (caught.value.code, caught.value.param) == ("resource_missing", "payment_method")
