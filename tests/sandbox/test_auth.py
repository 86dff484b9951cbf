"""API keys: only the configured pair works; the publishable key only where Stripe.js uses it."""

from __future__ import annotations

import httpx
import pytest
import stripe

from bookshop.sandbox import objects
from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import browser_confirm, card_data, new_intent


def test_unknown_secret_key_is_an_authentication_error_with_a_masked_key(
    sandbox: SandboxServer,
) -> None:
    client = sandbox.client(api_key="sk_test_not_the_sandbox_key_1234")
    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.payment_intents.list()
    assert caught.value.http_status == 401
    body = caught.value.json_body["error"]  # type: ignore[index]
    assert body["type"] == "invalid_request_error"
    assert body["message"].startswith("Invalid API Key provided: sk_test_")
    assert body["message"].endswith("1234")
    assert "not_the_sandbox" not in body["message"]


def test_missing_key_has_its_own_message(sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.url}/v1/payment_intents")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You did not provide an API key.")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.v1.payment_intents.create({"amount": 1000, "currency": "usd"}),
        lambda c: c.v1.payment_intents.list(),
        lambda c: c.v1.events.list(),
        lambda c: c.v1.refunds.create({"charge": "ch_x"}),
        lambda c: c.v1.charges.retrieve("ch_x"),
    ],
    ids=["create-intent", "list-intents", "list-events", "refund", "charge"],
)
def test_publishable_key_is_refused_outside_stripe_js_calls(sandbox: SandboxServer, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(stripe.AuthenticationError) as caught:
        call(sandbox.client(api_key=sandbox.publishable_key))
    assert "cannot be made with a publishable API key" in (caught.value.user_message or "")


def test_publishable_key_reads_only_the_browser_fields(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = new_intent(client, metadata={"order": "secret-ish"})
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    pk = sandbox.client(api_key=sandbox.publishable_key)
    seen = pk.v1.payment_intents.retrieve(intent.id, {"client_secret": intent.client_secret})  # type: ignore[typeddict-unknown-key]
    assert set(seen.to_dict()) == set(objects.PUBLISHABLE_FIELDS)
    assert "latest_charge" not in seen and "metadata" not in seen
    assert seen.status == "succeeded"


def test_wrong_client_secret_reveals_nothing(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = new_intent(client)
    pk = sandbox.client(api_key=sandbox.publishable_key)
    wrong = f"{intent.id}_secret_wrong"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        pk.v1.payment_intents.retrieve(intent.id, {"client_secret": wrong})  # type: ignore[typeddict-unknown-key]
    assert caught.value.http_status == 400
    assert caught.value.param == "client_secret"
    assert intent.client_secret not in str(caught.value.json_body)
    with pytest.raises(stripe.InvalidRequestError):
        pk.v1.payment_intents.confirm(
            intent.id,
            {"client_secret": wrong, "payment_method_data": card_data("4242424242424242")},  # type: ignore[typeddict-unknown-key]
        )
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_publishable_key_without_client_secret_is_refused(sandbox: SandboxServer) -> None:
    intent = new_intent(sandbox.client())
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client(api_key=sandbox.publishable_key).v1.payment_intents.retrieve(intent.id)
    assert caught.value.param == "client_secret"


def test_stripe_js_sends_the_key_as_a_form_field_and_gets_cors_headers(
    sandbox: SandboxServer,
) -> None:
    intent = new_intent(sandbox.client())
    origin = {"Origin": "http://127.0.0.1:5000"}
    preflight = httpx.options(
        f"{sandbox.url}/v1/payment_intents/{intent.id}/confirm",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    response = httpx.post(
        f"{sandbox.url}/v1/payment_intents/{intent.id}/confirm",
        headers=origin,
        data={
            "key": sandbox.publishable_key,
            "client_secret": intent.client_secret,
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": "4242424242424242",
            "payment_method_data[card][exp_month]": "12",
            "payment_method_data[card][exp_year]": "2034",
            "payment_method_data[card][cvc]": "123",
            "payment_method_data[billing_details][name]": "Ada",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Request-Id"].startswith("req_")
    assert response.json()["status"] == "succeeded"
    assert "latest_charge" not in response.json()


def test_stripe_version_is_echoed(sandbox: SandboxServer) -> None:
    intent = sandbox.client(stripe_version="2025-01-27.acacia").v1.payment_intents.create(
        {"amount": 1000, "currency": "usd"}
    )
    assert intent.last_response.headers["Stripe-Version"] == "2025-01-27.acacia"
    default = new_intent(sandbox.client())
    assert default.last_response.headers["Stripe-Version"] == stripe.api_version


def test_browser_confirmation_keeps_receipt_email(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = new_intent(client)
    pk = sandbox.client(api_key=sandbox.publishable_key)
    confirmed = pk.v1.payment_intents.confirm(
        intent.id,
        {
            "client_secret": intent.client_secret,  # type: ignore[typeddict-unknown-key]
            "payment_method_data": card_data("4242424242424242"),  # type: ignore[typeddict-item]
            "receipt_email": "reader@example.com",
            "return_url": "http://127.0.0.1:5000/checkout/done",
        },
    )
    assert confirmed.receipt_email == "reader@example.com"
    charge = client.v1.charges.retrieve(client.v1.payment_intents.retrieve(intent.id).latest_charge)  # type: ignore[arg-type]
    assert charge.receipt_email == "reader@example.com"
    assert charge.billing_details.email == "ada@example.com"


def test_browser_confirm_helper_works(sandbox: SandboxServer) -> None:
    intent = new_intent(sandbox.client())
    pk = sandbox.client(api_key=sandbox.publishable_key)
    assert browser_confirm(pk, intent, "4242424242424242").status == "succeeded"
