"""Every row of Stripe's test-card table behaves as listed, through the real stripe-python."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import stripe

from bookshop.sandbox import cards
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.stripe_data import card_table
from tests.sandbox.helpers import (
    assert_has_stripe_keys,
    browser_confirm,
    card_data,
    new_intent,
)


@dataclass(frozen=True)
class Row:
    number: str
    status: str
    type: str | None = None
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


DECLINED = "Your card was declined."
NO_FUNDS = "Your card has insufficient funds."
EXPIRED = "Your card has expired."
BAD_CVC = "Your card's security code is incorrect."
PROCESSING = "An error occurred while processing your card. Try again in a little bit."
RPM = "requires_payment_method"
DECLINE = ("card_error", "card_declined")
EXPECTED = [
    Row("4242424242424242", "succeeded"),
    Row("5555555555554444", "succeeded"),
    Row("4000000000000002", RPM, *DECLINE, "generic_decline", DECLINED),
    Row("4000000000009995", RPM, *DECLINE, "insufficient_funds", NO_FUNDS),
    Row("4000000000009987", RPM, *DECLINE, "lost_card", DECLINED),
    Row("4000000000009979", RPM, *DECLINE, "stolen_card", DECLINED),
    Row("4100000000000019", RPM, *DECLINE, "fraudulent", DECLINED),
    Row("4000000000000069", RPM, "card_error", "expired_card", None, EXPIRED),
    Row("4000000000000127", RPM, "card_error", "incorrect_cvc", None, BAD_CVC),
    Row("4000000000000119", RPM, "card_error", "processing_error", None, PROCESSING),
    Row("4000002500003155", "requires_action"),
    Row("4000002760003184", "requires_action"),
    Row("4000008260003178", "requires_action"),
]


def test_expected_table_matches_stripes_test_card_table() -> None:
    rows = {r["number"]: r for r in card_table()}
    for row in EXPECTED:
        listed = rows[row.number]
        dash = lambda value: value if value != "-" else None  # noqa: E731
        assert listed["result"].startswith(row.status)
        if row.number != "4000008260003178":
            assert (dash(listed["type"]), dash(listed["code"])) == (row.type, row.code)
            assert (dash(listed["decline_code"]), dash(listed["api_message"])) == (
                row.decline_code,
                row.message,
            )
    assert set(rows) - {r.number for r in EXPECTED} == {"4242424242424241", "(3DS failed)"}


def test_sandbox_card_table_has_every_listed_number() -> None:
    for row in EXPECTED:
        assert row.number in cards.TEST_CARDS


@pytest.mark.parametrize("row", EXPECTED, ids=lambda row: row.number)
def test_browser_confirmation_with_test_card(sandbox: SandboxServer, row: Row) -> None:
    client = sandbox.client()
    intent = new_intent(client)
    pk = sandbox.client(api_key=sandbox.publishable_key)
    if row.type is None:
        confirmed = browser_confirm(pk, intent, row.number)
        assert confirmed.status == row.status
        return
    with pytest.raises(stripe.CardError) as caught:
        browser_confirm(pk, intent, row.number)
    error = caught.value
    assert error.http_status == 402
    assert error.error is not None
    assert (error.error.type, error.code, error.error.decline_code) == (
        row.type,
        row.code,
        row.decline_code,
    )
    assert error.user_message == row.message
    body = error.json_body["error"]  # type: ignore[index]
    assert body["charge"].startswith("ch_")
    assert body["payment_intent"]["id"] == intent.id
    assert body["payment_intent"]["status"] == row.status
    assert body["payment_method"]["id"].startswith("pm_")
    assert body["doc_url"].startswith("https://stripe.com/docs/error-codes/")
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == row.status
    assert after.last_payment_error.to_dict().get("decline_code") == row.decline_code  # type: ignore[union-attr]
    assert after.last_payment_error.payment_method.id == body["payment_method"]["id"]  # type: ignore[union-attr]
    charge = client.v1.charges.retrieve(body["charge"])
    assert (charge.status, charge.failure_code, charge.failure_message) == (
        "failed",
        row.code,
        row.message,
    )
    assert charge.outcome.type in ("issuer_declined", "blocked")  # type: ignore[union-attr]
    assert_has_stripe_keys(charge, "charge")


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        ({"number": "4242424242424241"}, "incorrect_number", "number"),
        ({"exp_year": "2019"}, "invalid_expiry_year", "exp_year"),
        ({"exp_month": "13"}, "invalid_expiry_month", "exp_month"),
        ({"cvc": "12"}, "invalid_cvc", "cvc"),
    ],
)
def test_invalid_card_details_are_rejected_before_charging(
    sandbox: SandboxServer, card: dict[str, str], code: str, param: str
) -> None:
    pk = sandbox.client(api_key=sandbox.publishable_key)
    data = card_data(card.pop("number", "4242424242424242"), **card)
    with pytest.raises(stripe.CardError) as caught:
        pk.v1.payment_methods.create(data)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.param) == (code, param)


def test_any_other_valid_number_succeeds_like_4242(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = new_intent(client)
    pk = sandbox.client(api_key=sandbox.publishable_key)
    assert browser_confirm(pk, intent, "4012888888881881").status == "succeeded"


def test_payment_method_created_with_publishable_key_has_card_details(
    sandbox: SandboxServer,
) -> None:
    pk = sandbox.client(api_key=sandbox.publishable_key)
    method = pk.v1.payment_methods.create(card_data("5555555555554444"))  # type: ignore[arg-type]
    assert method.id.startswith("pm_")
    assert method.card.brand == "mastercard" and method.card.last4 == "4444"  # type: ignore[union-attr]
    assert method.billing_details.name == "Ada Reader"
    assert_has_stripe_keys(method, "payment_method")
    fetched = sandbox.client().v1.payment_methods.retrieve(method.id)
    assert fetched.id == method.id


def test_luhn_and_brand_helpers() -> None:
    assert cards.luhn_valid("4242424242424242")
    assert not cards.luhn_valid("4242424242424241")
    assert cards.brand("4000000000000002") == "visa"
    assert cards.brand("5555555555554444") == "mastercard"
