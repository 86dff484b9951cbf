"""Shared helpers for the sandbox tests: card data, fixture keys, an intent in a given state."""

from __future__ import annotations

from typing import Any

import stripe

from tests.fixtures.stripe_data import example_object

# Keys Stripe's example objects carry expanded, which Stripe sends only when asked: a Charge's
# refunds since API version 2022-11-15.
ONLY_WHEN_EXPANDED = {"charge": {"refunds"}}


def fixture_keys(resource: str) -> set[str]:
    """Keys of Stripe's own example object (payment_intent, charge, payment_method, ...), less
    those Stripe sends only when they are expanded."""
    return set(example_object(resource)) - ONLY_WHEN_EXPANDED.get(resource, set())


def assert_has_stripe_keys(obj: Any, resource: str) -> None:
    """Every key of Stripe's example object is present."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    missing = fixture_keys(resource) - set(data)
    assert not missing, f"{resource} lacks {sorted(missing)}"


def card_data(number: str, **extra: Any) -> dict[str, Any]:
    """`payment_method_data` as Stripe.js sends it for a card."""
    return {
        "type": "card",
        "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123", **extra},
        "billing_details": {"name": "Ada Reader", "email": "ada@example.com"},
    }


def new_intent(
    client: stripe.StripeClient, amount: int = 2000, **params: Any
) -> stripe.PaymentIntent:
    """A fresh PaymentIntent in requires_payment_method."""
    return client.v1.payment_intents.create({"amount": amount, "currency": "usd", **params})


def browser_confirm(
    pk_client: stripe.StripeClient, intent: stripe.PaymentIntent, number: str
) -> stripe.PaymentIntent:
    """Confirm as Stripe.js does: publishable key, client secret, raw card data."""
    return pk_client.v1.payment_intents.confirm(
        intent.id,
        {"client_secret": intent.client_secret, "payment_method_data": card_data(number)},  # type: ignore[typeddict-unknown-key]
    )
