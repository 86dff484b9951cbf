"""Idempotency-Key: replays, conflicts and concurrent requests, as Stripe handles them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import stripe

from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import new_intent


def test_same_key_and_parameters_replays_the_first_response(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    params = {"amount": 1500, "currency": "usd", "metadata": {"order": "7"}}
    first = client.v1.payment_intents.create(params, {"idempotency_key": "order-7"})  # type: ignore[arg-type]
    again = client.v1.payment_intents.create(params, {"idempotency_key": "order-7"})  # type: ignore[arg-type]
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(sandbox.events("payment_intent.created")) == len(
        {e["data"]["object"]["id"] for e in sandbox.events("payment_intent.created")}
    )


def test_same_key_with_other_parameters_is_an_idempotency_error(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    client.v1.payment_intents.create(
        {"amount": 1500, "currency": "usd"}, {"idempotency_key": "order-8"}
    )
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.payment_intents.create(
            {"amount": 1600, "currency": "usd"}, {"idempotency_key": "order-8"}
        )
    assert caught.value.http_status == 400
    assert (caught.value.user_message or "").startswith(
        "Keys for idempotent requests can only be used with the same parameters"
    )


def test_a_declined_confirmation_is_replayed_too(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = new_intent(client)
    params = {"payment_method": "pm_card_chargeDeclined"}
    with pytest.raises(stripe.CardError) as first:
        client.v1.payment_intents.confirm(intent.id, params, {"idempotency_key": f"c-{intent.id}"})  # type: ignore[arg-type]
    with pytest.raises(stripe.CardError) as second:
        client.v1.payment_intents.confirm(intent.id, params, {"idempotency_key": f"c-{intent.id}"})  # type: ignore[arg-type]
    assert second.value.json_body == first.value.json_body
    assert second.value.headers["Idempotent-Replayed"] == "true"  # type: ignore[index]
    charges = client.v1.charges.list({"payment_intent": intent.id})
    assert len(charges.data) == 1


def test_concurrent_requests_with_one_key_create_one_object(sandbox: SandboxServer) -> None:
    sandbox.set_faults(latency_ms=100)
    url = f"{sandbox.url}/v1/payment_intents"
    headers = {"Authorization": f"Bearer {sandbox.secret_key}", "Idempotency-Key": "race-1"}

    def create(_: int) -> httpx.Response:
        return httpx.post(url, data={"amount": "990", "currency": "usd"}, headers=headers)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(create, range(6)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 5


def test_keys_are_scoped_to_the_api_key(sandbox: SandboxServer) -> None:
    pk = sandbox.client(api_key=sandbox.publishable_key)
    sk = sandbox.client()
    method = pk.v1.payment_methods.create(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2035}},  # type: ignore[typeddict-item]
        {"idempotency_key": "shared-key"},
    )
    intent = sk.v1.payment_intents.create(
        {"amount": 1000, "currency": "usd"}, {"idempotency_key": "shared-key"}
    )
    assert method.id.startswith("pm_") and intent.id.startswith("pi_")
