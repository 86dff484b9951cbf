"""PaymentIntents through the real stripe-python: create, read, update, confirm, cancel, list."""

from __future__ import annotations

import time

import pytest
import stripe

from bookshop.sandbox.app import create_sandbox_app
from bookshop.sandbox.settings import DEFAULT_SECRET_KEY, SandboxSettings
from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import assert_has_stripe_keys, new_intent


@pytest.fixture
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return sandbox.client()


def test_create_returns_a_payable_intent_with_stripes_keys(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        {
            "amount": 1999,
            "currency": "usd",
            "metadata": {"order": "42"},
            "description": "Two books",
            "receipt_email": "ada@example.com",
            "automatic_payment_methods": {"enabled": True},
        }
    )
    assert intent.id.startswith("pi_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.status == "requires_payment_method"
    assert (intent.amount, intent.currency, intent.metadata["order"]) == (1999, "usd", "42")
    assert intent.latest_charge is None and intent.last_payment_error is None
    assert intent.last_response.headers["Request-Id"].startswith("req_")
    assert_has_stripe_keys(intent, "payment_intent")


def test_retrieve_returns_the_same_intent(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    assert client.v1.payment_intents.retrieve(intent.id).to_dict() == intent.to_dict()


def test_unknown_intent_is_a_404_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "intent"
    assert caught.value.user_message == "No such payment_intent: 'pi_doesnotexist'"


def test_missing_amount_is_parameter_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create({"currency": "usd"})  # type: ignore[typeddict-item]
    assert (caught.value.code, caught.value.param) == ("parameter_missing", "amount")


@pytest.mark.parametrize(
    ("amount", "currency", "param", "code"),
    [
        (49, "usd", "amount", "amount_too_small"),
        (49, "jpy", "amount", "amount_too_small"),
        (29, "gbp", "amount", "amount_too_small"),
        (1000, "xyz", "currency", None),
    ],
)
def test_amount_below_minimum_or_unknown_currency_is_rejected(
    client: stripe.StripeClient, amount: int, currency: str, param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create({"amount": amount, "currency": currency})
    assert caught.value.http_status == 400
    assert (caught.value.param, caught.value.code) == (param, code)


def test_minimum_amounts_are_accepted(client: stripe.StripeClient) -> None:
    for currency, amount in (("usd", 50), ("sgd", 50), ("eur", 50), ("jpy", 50), ("gbp", 30)):
        assert new_intent(client, amount, currency=currency).amount == amount


def test_non_integer_amount_is_rejected(sandbox: SandboxServer) -> None:
    import httpx

    response = httpx.post(
        f"{sandbox.url}/v1/payment_intents",
        data={"amount": "ten", "currency": "usd"},
        headers={"Authorization": f"Bearer {sandbox.secret_key}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"
    assert response.json()["error"]["code"] == "parameter_invalid_integer"


def test_update_changes_amount_and_merges_metadata(client: stripe.StripeClient) -> None:
    intent = new_intent(client, metadata={"a": "1", "b": "2"})
    updated = client.v1.payment_intents.update(
        intent.id, {"amount": 3100, "metadata": {"b": "", "c": "3"}, "description": "d"}
    )
    assert updated.amount == 3100
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}
    assert updated.description == "d"


def test_server_confirm_with_payment_method_succeeds_with_a_charge(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client)
    confirmed = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 2000
    charge = client.v1.charges.retrieve(confirmed.latest_charge)  # type: ignore[arg-type]
    assert charge.status == "succeeded" and charge.paid
    assert charge.payment_intent == intent.id
    assert charge.payment_method_details.card.brand == "visa"  # type: ignore[union-attr]
    assert charge.payment_method_details.card.last4 == "4242"  # type: ignore[union-attr]
    assert charge.outcome.type == "authorized"  # type: ignore[union-attr]
    assert_has_stripe_keys(charge, "charge")


def test_expand_latest_charge_and_payment_method(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_mastercard"})
    expanded = client.v1.payment_intents.retrieve(
        intent.id, {"expand": ["latest_charge", "payment_method"]}
    )
    assert isinstance(expanded.latest_charge, stripe.Charge)
    assert isinstance(expanded.payment_method, stripe.PaymentMethod)
    assert expanded.payment_method.card.brand == "mastercard"  # type: ignore[union-attr]
    assert_has_stripe_keys(expanded.payment_method, "payment_method")


def test_an_expansion_stripe_makes_but_the_sandbox_cannot_is_refused_not_ignored(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client)
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.retrieve(
            intent.id, {"expand": ["latest_charge.balance_transaction"]}
        )
    assert (caught.value.user_message or "").startswith(
        "The sandbox cannot expand latest_charge.balance_transaction"
    )


def test_a_confirm_with_an_expansion_the_sandbox_cannot_make_is_refused_before_it_charges(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client)
    key = {"idempotency_key": f"confirm-{intent.id}"}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(
            intent.id,
            {"payment_method": "pm_card_visa", "expand": ["latest_charge.balance_transaction"]},
            key,  # type: ignore[arg-type]
        )
    assert caught.value.http_status == 400
    unconfirmed = client.v1.payment_intents.retrieve(intent.id)
    assert (unconfirmed.status, unconfirmed.latest_charge) == ("requires_payment_method", None)
    # Nothing was saved under the key: the corrected retry runs, not a replay or a mismatch.
    paid = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"}, key)  # type: ignore[arg-type]
    assert paid.status == "succeeded"
    assert "Idempotent-Replayed" not in paid.last_response.headers


async def test_create_with_confirm_makes_one_payment_method() -> None:
    app = create_sandbox_app(SandboxSettings())
    created = await app.test_client().post(
        "/v1/payment_intents",
        form={
            "amount": "1000",
            "currency": "usd",
            "confirm": "true",
            "payment_method": "pm_card_visa",
        },
        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"},
    )
    intent = await created.get_json()
    assert intent["status"] == "succeeded"
    methods = app.extensions["sandbox"].store.payment_methods.items
    assert [method["id"] for method in methods] == [intent["payment_method"]]


def test_list_expands_each_items_latest_charge_with_the_data_prefix(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client)
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    page = client.v1.payment_intents.list({"limit": 5, "expand": ["data.latest_charge"]})
    listed = next(item for item in page.data if item.id == intent.id)
    assert isinstance(listed.latest_charge, stripe.Charge)
    assert listed.latest_charge.payment_intent == intent.id
    plain = client.v1.payment_intents.list({"limit": 5})
    assert isinstance(next(i for i in plain.data if i.id == intent.id).latest_charge, str)


def test_succeeded_intent_refuses_confirm_update_and_cancel(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    calls = [
        lambda: client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"}),
        lambda: client.v1.payment_intents.update(intent.id, {"amount": 5000}),
        lambda: client.v1.payment_intents.cancel(intent.id),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            call()
        assert caught.value.http_status == 400
        assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        calls[0]()
    assert "already succeeded" in (caught.value.user_message or "")


def test_metadata_can_still_change_after_success(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert (
        client.v1.payment_intents.update(intent.id, {"metadata": {"k": "v"}}).metadata["k"] == "v"
    )


def test_cancel_records_reason_and_blocks_confirmation(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    canceled = client.v1.payment_intents.cancel(intent.id, {"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "abandoned"
    assert canceled.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert caught.value.code == "payment_intent_unexpected_state"


def test_confirm_without_payment_method_is_refused(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"


def test_declined_attempt_can_be_retried_with_another_card(client: stripe.StripeClient) -> None:
    intent = new_intent(client)
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_chargeDeclined"})
    failed = client.v1.payment_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == "card_declined"  # type: ignore[union-attr]
    assert failed.payment_method is None
    retried = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"
    assert retried.last_payment_error is None
    charges = client.v1.charges.list({"payment_intent": intent.id})
    assert [c.status for c in charges.data] == ["succeeded", "failed"]


def test_list_is_newest_first_and_paginates_both_ways(client: stripe.StripeClient) -> None:
    since = int(time.time())
    created = [new_intent(client, 1000 + i).id for i in range(5)]
    page = client.v1.payment_intents.list({"limit": 2, "created": {"gte": since}})
    assert page.url == "/v1/payment_intents"
    assert [pi.id for pi in page.data] == created[::-1][:2]
    assert page.has_more
    after = client.v1.payment_intents.list({"limit": 2, "starting_after": page.data[-1].id})
    assert [pi.id for pi in after.data] == created[::-1][2:4]
    before = client.v1.payment_intents.list({"limit": 2, "ending_before": created[2]})
    assert [pi.id for pi in before.data] == [created[4], created[3]]
    assert not before.has_more
    everything = [
        pi.id
        for pi in client.v1.payment_intents.list({"created": {"gte": since}}).auto_paging_iter()
    ]
    assert everything[: len(created)] == created[::-1]
    future = client.v1.payment_intents.list({"created": {"gt": int(time.time()) + 60}})
    assert future.data == [] and not future.has_more


def test_unrecognized_url_is_stripes_404(sandbox: SandboxServer) -> None:
    import httpx

    response = httpx.get(
        f"{sandbox.url}/v1/customers", headers={"Authorization": f"Bearer {sandbox.secret_key}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/customers)"
    )


@pytest.mark.parametrize(
    "email", ["ada..reader@example.com", "ada reader@example.com", "ada@example.c", "ada@example"]
)
def test_a_receipt_email_stripe_would_refuse_is_email_invalid(
    client: stripe.StripeClient, email: str
) -> None:
    intent = new_intent(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.update(intent.id, {"receipt_email": email})
    error = caught.value
    assert (error.http_status, error.code, error.param) == (400, "email_invalid", "receipt_email")
    assert error.user_message == f"Invalid email address: {email}"
    assert client.v1.payment_intents.retrieve(intent.id).receipt_email is None


def test_a_well_formed_receipt_email_is_kept_and_an_empty_one_clears_it(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client, receipt_email="o'brien+books@mail.example.co.uk")
    assert intent.receipt_email == "o'brien+books@mail.example.co.uk"
    assert client.v1.payment_intents.update(intent.id, {"receipt_email": ""}).receipt_email is None


SHIPPING = {
    "name": "Ada Reader",
    "phone": "+44 20 7946 0000",
    "address": {
        "line1": "1 Book Street",
        "city": "London",
        "postal_code": "N1 9GU",
        "country": "GB",
    },
}


def test_shipping_is_kept_and_returned_as_stripes_shipping_object(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client, shipping=SHIPPING)
    assert intent.to_dict()["shipping"] == {
        "address": {
            "city": "London",
            "country": "GB",
            "line1": "1 Book Street",
            "line2": None,
            "postal_code": "N1 9GU",
            "state": None,
        },
        "carrier": None,
        "name": "Ada Reader",
        "phone": "+44 20 7946 0000",
        "tracking_number": None,
    }
    confirmed = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    charge = client.v1.charges.retrieve(confirmed.latest_charge)  # type: ignore[arg-type]
    assert charge.shipping is not None and charge.shipping.name == "Ada Reader"


def test_shipping_is_replaced_on_update_and_an_empty_value_removes_it(
    client: stripe.StripeClient,
) -> None:
    intent = new_intent(client, shipping=SHIPPING)
    moved = client.v1.payment_intents.update(
        intent.id,
        {"shipping": {"name": "Ada Reader", "address": {"line1": "2 Page Road"}, "carrier": "DHL"}},
    )
    assert moved.shipping is not None
    assert (moved.shipping.address.line1, moved.shipping.address.city) == ("2 Page Road", None)  # type: ignore[union-attr]
    assert moved.shipping.carrier == "DHL"
    cleared = client.v1.payment_intents.update(intent.id, {"shipping": ""})
    assert cleared.shipping is None
    assert client.v1.payment_intents.retrieve(intent.id).shipping is None
