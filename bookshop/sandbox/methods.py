"""PaymentMethods: cards made from card details (by Stripe.js, or from `payment_method_data`), and
Stripe's ready-made test methods (`pm_card_visa`, ...)."""

from __future__ import annotations

import time
from typing import Any

from bookshop.sandbox import cards, objects
from bookshop.sandbox.errors import invalid_param, missing_param, no_such
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.parsing import merge_metadata
from bookshop.sandbox.records import Records


def card_details(params: JSON) -> cards.CardDetails:
    """The card of `payment_method_data` (or of POST /v1/payment_methods), checked as Stripe
    checks it: a card type, then number, expiry and CVC."""
    kind = params.get("type")
    if not kind:
        raise missing_param("type")
    if kind != "card":
        raise invalid_param(
            f"The payment method type provided: {kind} is invalid. The sandbox supports: card.",
            param="type",
        )
    card_params = params.get("card")
    if not isinstance(card_params, dict):
        raise missing_param("card")
    return cards.validate(
        card_params.get("number"),
        card_params.get("exp_month"),
        card_params.get("exp_year"),
        card_params.get("cvc"),
    )


def test_card_details(method_id: str) -> cards.CardDetails | None:
    """The card behind one of Stripe's `pm_card_*` test PaymentMethods, or None for another id."""
    number = cards.TEST_PAYMENT_METHODS.get(method_id)
    if number is None:
        return None
    return cards.CardDetails(number, 12, time.gmtime().tm_year + 3, "123")


class PaymentMethods(Records):
    """Card PaymentMethods, and the card details behind each (kept, never shown)."""

    def create_payment_method(self, params: JSON) -> JSON:
        """POST /v1/payment_methods (and confirm's payment_method_data)."""
        details = card_details(params)
        return self.store_method(details, params.get("billing_details"), params.get("metadata"))

    def store_method(self, details: cards.CardDetails, billing: Any, metadata: Any) -> JSON:
        """A new card PaymentMethod for checked card details."""
        method = objects.payment_method(details, billing, merge_metadata({}, metadata))
        self._card_numbers[method["id"]] = details
        return self.payment_methods.add(method)

    def resolve_payment_method(self, method_id: str) -> JSON:
        """An existing PaymentMethod, or a fresh one for Stripe's `pm_card_*` test tokens."""
        details = test_card_details(method_id)
        if details is not None:
            return self.store_method(details, None, None)
        return self.existing_method(method_id)

    def existing_method(self, method_id: str) -> JSON:
        """A PaymentMethod the sandbox made, or Stripe's error for an unknown one."""
        method = self.payment_methods.get(method_id)
        if method is None:
            raise no_such("PaymentMethod", method_id, param="payment_method", status=400)
        return method

    def test_card(self, method: JSON) -> cards.TestCard:
        """What charging this PaymentMethod's card does (the test-card table's row)."""
        return cards.lookup(self._card_numbers[method["id"]].number)
