"""3D Secure cards: requires_action, then the challenge's verdict posted to /_sandbox/3ds."""

from __future__ import annotations

import httpx
import pytest
import stripe

from bookshop.sandbox import objects
from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import browser_confirm, new_intent

AUTH_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def challenge(
    sandbox: SandboxServer, number: str
) -> tuple[stripe.StripeClient, stripe.PaymentIntent]:
    client = sandbox.client()
    intent = new_intent(client)
    pk = sandbox.client(api_key=sandbox.publishable_key)
    pending = browser_confirm(pk, intent, number)
    assert pending.status == "requires_action"
    assert pending.next_action.to_dict() == {  # type: ignore[union-attr]
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "stripe_js": f"{sandbox.url}/3ds/challenge/{intent.id}"
            f"?client_secret={intent.client_secret}",
        },
    }
    return client, intent


def verdict(sandbox: SandboxServer, intent: stripe.PaymentIntent, result: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent.id}",
        data={"client_secret": intent.client_secret, "result": result},
    )


@pytest.mark.parametrize("number", ["4000002500003155", "4000002760003184"])
def test_approved_challenge_succeeds_with_a_charge(sandbox: SandboxServer, number: str) -> None:
    client, intent = challenge(sandbox, number)
    response = verdict(sandbox, intent, "approve")
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert set(response.json()) == set(objects.PUBLISHABLE_FIELDS)
    final = client.v1.payment_intents.retrieve(intent.id, {"expand": ["latest_charge"]})
    assert final.latest_charge.status == "succeeded"  # type: ignore[union-attr]
    card = final.latest_charge.payment_method_details.card  # type: ignore[union-attr]
    assert card.three_d_secure.result == "authenticated"
    types = [e["type"] for e in sandbox.events() if e["data"]["object"].get("id") == intent.id]
    assert types[:2] == ["payment_intent.succeeded", "payment_intent.requires_action"]


def test_approved_challenge_on_3178_then_declines_for_insufficient_funds(
    sandbox: SandboxServer,
) -> None:
    client, intent = challenge(sandbox, "4000008260003178")
    body = verdict(sandbox, intent, "approve").json()
    assert body["status"] == "requires_payment_method"
    error = body["last_payment_error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    assert error["message"] == "Your card has insufficient funds."
    charge = client.v1.charges.retrieve(error["charge"])
    assert charge.status == "failed"


def test_failed_challenge_leaves_the_intent_payable(sandbox: SandboxServer) -> None:
    client, intent = challenge(sandbox, "4000002500003155")
    body = verdict(sandbox, intent, "fail").json()
    assert body["status"] == "requires_payment_method"
    error = body["last_payment_error"]
    assert (error["type"], error["code"]) == (
        "invalid_request_error",
        "payment_intent_authentication_failure",
    )
    assert error["message"] == AUTH_FAILED
    failed = [
        e
        for e in sandbox.events("payment_intent.payment_failed")
        if e["data"]["object"]["id"] == intent.id
    ]
    assert len(failed) == 1
    retried = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"


def test_challenge_needs_the_right_client_secret_and_a_pending_intent(
    sandbox: SandboxServer,
) -> None:
    client, intent = challenge(sandbox, "4000002500003155")
    wrong = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent.id}",
        data={"client_secret": f"{intent.id}_secret_nope", "result": "approve"},
    )
    assert wrong.status_code == 400
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_action"
    assert verdict(sandbox, intent, "approve").status_code == 200
    again = verdict(sandbox, intent, "approve")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"
