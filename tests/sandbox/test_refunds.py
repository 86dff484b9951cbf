"""Refunds: full and partial, by charge or PaymentIntent, and Stripe's refusal to over-refund."""

from __future__ import annotations

import pytest
import stripe

from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import assert_has_stripe_keys, new_intent


@pytest.fixture
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return sandbox.client()


def paid_intent(client: stripe.StripeClient, amount: int = 5000) -> stripe.PaymentIntent:
    intent = new_intent(client, amount)
    return client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})


def test_partial_then_full_refund_updates_the_charge(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    intent = paid_intent(client)
    partial = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1200})
    assert partial.id.startswith("re_")
    assert (partial.amount, partial.status, partial.charge) == (
        1200,
        "succeeded",
        intent.latest_charge,
    )
    assert_has_stripe_keys(partial, "refund")
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert (charge.amount_refunded, charge.refunded) == (1200, False)
    rest = client.v1.refunds.create({"charge": charge.id})
    assert rest.amount == 3800
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (5000, True)
    assert client.v1.refunds.retrieve(rest.id).id == rest.id
    refunded_events = [
        e for e in sandbox.events("charge.refunded") if e["data"]["object"]["id"] == charge.id
    ]
    assert [e["data"]["object"]["amount_refunded"] for e in refunded_events] == [5000, 1200]


def test_a_refund_with_an_expansion_the_sandbox_cannot_make_refunds_nothing(
    client: stripe.StripeClient,
) -> None:
    intent = paid_intent(client)
    key = {"idempotency_key": f"refund-{intent.id}"}
    params = {"payment_intent": intent.id, "amount": 500}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.refunds.create({**params, "expand": ["balance_transaction"]}, key)  # type: ignore[arg-type, typeddict-item]
        assert caught.value.http_status == 400
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert charge.amount_refunded == 0
    assert client.v1.refunds.list({"payment_intent": intent.id}).data == []
    # Nothing was saved under the key: the corrected retry refunds, once.
    refund = client.v1.refunds.create(params, key)  # type: ignore[arg-type]
    assert refund.amount == 500
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 500


def test_a_refund_sends_refund_created_then_charge_refunded(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    intent = paid_intent(client, 1500)
    refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": 500})
    mine = [
        event
        for event in sandbox.events()
        if event["type"] in ("refund.created", "charge.refunded")
        and event["data"]["object"]["id"] in (refund.id, refund.charge)
    ]
    # Newest first: refund.created was sent first.
    assert [event["type"] for event in mine] == ["charge.refunded", "refund.created"]
    assert mine[1]["data"]["object"] == refund.to_dict()
    charge = mine[0]["data"]["object"]
    assert (charge["id"], charge["amount_refunded"]) == (intent.latest_charge, 500)
    assert "refunds" not in charge  # only when expanded, and an event's object never is


def test_a_charge_lists_its_refunds_only_when_expanded(client: stripe.StripeClient) -> None:
    intent = paid_intent(client, 3000)
    first = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000})
    second = client.v1.refunds.create({"payment_intent": intent.id, "amount": 500})
    charge_id: str = intent.latest_charge  # type: ignore[assignment]
    assert "refunds" not in client.v1.charges.retrieve(charge_id)
    charge = client.v1.charges.retrieve(charge_id, {"expand": ["refunds"]})
    assert [refund.id for refund in charge.refunds.data] == [second.id, first.id]  # type: ignore[union-attr]
    assert charge.refunds.url == f"/v1/charges/{charge_id}/refunds"  # type: ignore[union-attr]
    through_intent = client.v1.payment_intents.retrieve(
        intent.id, {"expand": ["latest_charge.refunds"]}
    )
    assert through_intent.latest_charge.refunds.data[0].id == second.id  # type: ignore[union-attr]
    listed = client.v1.charges.list({"payment_intent": intent.id, "expand": ["data.refunds"]})
    assert listed.data[0].refunds.data[0].id == second.id  # type: ignore[union-attr]


def test_refunds_are_listed_by_payment_intent_or_by_charge(client: stripe.StripeClient) -> None:
    mine, other = paid_intent(client, 1000), paid_intent(client, 1000)
    refund = client.v1.refunds.create({"payment_intent": mine.id, "amount": 300})
    client.v1.refunds.create({"payment_intent": other.id, "amount": 300})
    by_intent = client.v1.refunds.list({"payment_intent": mine.id})
    by_charge = client.v1.refunds.list({"charge": mine.latest_charge})  # type: ignore[typeddict-item]
    assert [r.id for r in by_intent.data] == [refund.id] == [r.id for r in by_charge.data]


def test_refunding_more_than_remains_is_refused(client: stripe.StripeClient) -> None:
    intent = paid_intent(client, 1000)
    client.v1.refunds.create({"payment_intent": intent.id, "amount": 600})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 500})
    assert caught.value.param == "amount"
    client.v1.refunds.create({"payment_intent": intent.id})
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create({"payment_intent": intent.id})
    assert again.value.code == "charge_already_refunded"


def test_unpaid_intent_cannot_be_refunded(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"payment_intent": intent.id})


def test_receipt_url_serves_a_receipt_page(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    import httpx

    intent = paid_intent(client, 2599)
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert charge.receipt_url == f"{sandbox.url}/receipts/{charge.id}"
    page = httpx.get(charge.receipt_url)
    assert page.status_code == 200
    assert "25.99 USD" in page.text and "4242" in page.text and "no real money" in page.text


def test_a_refunds_idempotency_key_replays_it_and_refuses_other_parameters(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    intent = paid_intent(client, 3000)
    key = {"idempotency_key": f"staff-refund-{intent.id}"}
    params = {"payment_intent": intent.id, "amount": 700, "metadata": {"reason": "damaged book"}}
    first = client.v1.refunds.create(params, key)  # type: ignore[arg-type]
    again = client.v1.refunds.create(params, key)  # type: ignore[arg-type]
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create({**params, "amount": 800}, key)  # type: ignore[arg-type]
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert (charge.amount_refunded, charge.refunded) == (700, False)
    assert [r.id for r in client.v1.refunds.list({"payment_intent": intent.id}).data] == [first.id]
    mine = [
        event["type"]
        for event in sandbox.events()
        if event["type"] in ("refund.created", "charge.refunded")
        and event["data"]["object"]["id"] in (first.id, charge.id)
    ]
    assert mine == ["charge.refunded", "refund.created"]  # once, not again on the replay


def test_too_much_is_refused_in_stripes_words_and_refunds_nothing(
    client: stripe.StripeClient,
) -> None:
    intent = paid_intent(client, 1000)
    client.v1.refunds.create({"payment_intent": intent.id, "amount": 600})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 500})
    error = caught.value.error
    assert error is not None
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "amount_too_large",
        "amount",
    )
    assert error.message == (
        "Refund amount ($5.00) is greater than unrefunded amount on charge ($4.00)"
    )
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert charge.amount_refunded == 600
