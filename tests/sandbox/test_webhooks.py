"""Events and webhooks: recorded, listable, signed like Stripe's and retried until delivered."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from bookshop.sandbox.webhooks import sign
from tests.fixtures.sandbox import SandboxServer, free_port
from tests.sandbox.helpers import assert_has_stripe_keys, new_intent
from tests.sandbox.receiver import running_receiver

SECRET = "whsec_test_receiver_secret"


def test_payment_records_events_with_snapshots(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = client.v1.payment_intents.create(
        {"amount": 1234, "currency": "usd"}, {"idempotency_key": "events-1"}
    )
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    mine = [e for e in sandbox.events() if e["data"]["object"].get("id") == intent.id]
    assert [e["type"] for e in mine] == ["payment_intent.succeeded", "payment_intent.created"]
    created = mine[1]
    assert created["data"]["object"]["status"] == "requires_payment_method"
    assert created["request"]["idempotency_key"] == "events-1"
    assert created["request"]["id"].startswith("req_")
    assert created["api_version"] == stripe.api_version
    assert_has_stripe_keys(created, "event")
    charge_events = sandbox.events("charge.succeeded")
    assert any(e["data"]["object"]["payment_intent"] == intent.id for e in charge_events)


def test_events_list_filters_and_retrieves(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    since = int(time.time())
    intent = new_intent(client)
    client.v1.payment_intents.cancel(intent.id)
    canceled = client.v1.events.list({"type": "payment_intent.canceled", "created": {"gte": since}})
    assert canceled.data[0].data.object["id"] == intent.id
    assert all(e.type == "payment_intent.canceled" for e in canceled.data)
    event = client.v1.events.retrieve(canceled.data[0].id)
    assert event.id == canceled.data[0].id
    page = client.v1.events.list({"limit": 1})
    older = client.v1.events.list({"limit": 1, "starting_after": page.data[0].id})
    assert older.data[0].created <= page.data[0].created
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve("evt_missing")


def test_events_list_filters_by_several_types(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    since = int(time.time())
    intent = new_intent(client)
    client.v1.payment_intents.cancel(intent.id)
    types = ["payment_intent.created", "payment_intent.canceled"]
    listed = client.v1.events.list({"types": types, "created": {"gte": since}, "limit": 100})
    assert {event.type for event in listed.data} <= set(types)
    mine = [event.type for event in listed.data if event.data.object["id"] == intent.id]
    assert mine == ["payment_intent.canceled", "payment_intent.created"]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.list({"type": types[0], "types": types})


WANTED = {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}


def test_webhooks_are_signed_so_construct_event_accepts_them(sandbox: SandboxServer) -> None:
    with running_receiver() as receiver:
        sandbox.add_webhook_endpoint(receiver.url, SECRET)
        try:
            client = sandbox.client()
            intent = new_intent(client)
            client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})

            def done(deliveries: list) -> bool:  # type: ignore[type-arg]
                # Every event awaited: charge.succeeded also names the intent and "succeeded",
                # and deliveries may arrive out of order.
                bodies = [d.body.decode() for d in deliveries if intent.id.encode() in d.body]
                return all(any(f'"{t}"' in b for b in bodies) for t in WANTED)

            deliveries = receiver.wait_for(done)
        finally:
            sandbox.remove_webhook_endpoint(receiver.url)
    types = []
    for delivery in deliveries:
        assert delivery.headers["Content-Type"] == "application/json; charset=utf-8"
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["Stripe-Signature"], SECRET
        )
        obj = json.loads(delivery.body)["data"]["object"]
        if intent.id in (obj.get("id"), obj.get("payment_intent")):
            types.append(event.type)
    assert set(types) >= WANTED
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            deliveries[0].body, deliveries[0].headers["Stripe-Signature"], "whsec_wrong"
        )


def test_a_failed_delivery_is_retried_until_the_endpoint_accepts_it(sandbox: SandboxServer) -> None:
    with running_receiver(fail_first=2) as receiver:
        sandbox.add_webhook_endpoint(receiver.url, SECRET)
        try:
            intent = new_intent(sandbox.client())
            accepted = receiver.wait_for(lambda ds: any(intent.id in d.body.decode() for d in ds))
        finally:
            sandbox.remove_webhook_endpoint(receiver.url)
    assert [d.status for d in receiver.deliveries[:2]] == [500, 500]
    event = json.loads(accepted[0].body)
    assert event["type"] == "payment_intent.created"
    attempts = [a for a in sandbox.webhook_attempts() if a["event"] == event["id"]]
    assert [a["ok"] for a in sorted(attempts, key=lambda a: a["attempt"])] == [False, False, True]


def test_a_delivery_reaches_an_endpoint_that_was_down_for_a_while(sandbox: SandboxServer) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    sandbox.add_webhook_endpoint(url, SECRET)
    try:
        intent = new_intent(sandbox.client())
        time.sleep(1.5)
        with running_receiver(port=port) as receiver:
            accepted = receiver.wait_for(lambda ds: any(intent.id in d.body.decode() for d in ds))
    finally:
        sandbox.remove_webhook_endpoint(url)
    event = stripe.Webhook.construct_event(
        accepted[0].body, accepted[0].headers["Stripe-Signature"], SECRET
    )
    assert event.type == "payment_intent.created"
    failures = [a for a in sandbox.webhook_attempts() if a["event"] == event.id and not a["ok"]]
    assert failures and failures[0]["error"]


def test_signature_matches_stripes_scheme() -> None:
    header = sign(b'{"id": "evt_1"}', "whsec_x", timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert stripe.WebhookSignature.verify_header(
        '{"id": "evt_1"}', header, "whsec_x", tolerance=None
    )
