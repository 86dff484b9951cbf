"""ConfirmationTokens: the card a shopper entered, carried from Stripe.js to the server's confirm.

Stripe.js makes one with the publishable key (POST /v1/confirmation_tokens, from the card
iframe); a test makes one with the secret key (POST /v1/test_helpers/confirmation_tokens). The
token shows a preview of the card (brand, last4, expiry; never the number or CVC) and whatever
shipping and return_url it was given. Confirming a PaymentIntent with it makes the PaymentMethod,
as `payment_method_data` would, and spends the token: it is single use, and it expires.
"""

from __future__ import annotations

import time
from typing import Any

from bookshop.sandbox import cards, objects
from bookshop.sandbox.errors import StripeError, invalid_param, no_such
from bookshop.sandbox.methods import PaymentMethods, card_details, test_card_details
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.records import PendingMethod

# The fields of a PaymentMethod that a ConfirmationToken's `payment_method_preview` shows (with the
# one named by `type`, here always `card`): stripe-python's ConfirmationToken.PaymentMethodPreview.
PREVIEW_FIELDS = ("allow_redisplay", "billing_details", "customer", "customer_account", "type")
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def token_shipping(params: JSON) -> JSON:
    """A ConfirmationToken's `shipping` (name, phone, address) from validated `shipping[...]`."""
    address = params.get("address") or {}
    return {
        "address": {key: address.get(key) or None for key in ADDRESS_FIELDS},
        "name": params.get("name") or None,
        "phone": params.get("phone") or None,
    }


def preview(method: JSON) -> JSON:
    """`payment_method_preview`: a PaymentMethod's details, less its id, creation and metadata."""
    return {**{key: method[key] for key in PREVIEW_FIELDS}, "card": method["card"]}


def confirmation_token(
    *, method: JSON, shipping: JSON | None, return_url: str | None, lifetime_s: int
) -> JSON:
    """A new, unused ConfirmationToken paying with (a preview of) `method`."""
    created = int(time.time())
    return {
        "id": objects.new_id("ctoken"),
        "object": "confirmation_token",
        "created": created,
        "expires_at": created + lifetime_s,
        "livemode": False,
        "mandate_data": None,
        "metadata": None,
        "payment_intent": None,
        "payment_method_options": None,
        "payment_method_preview": preview(method),
        "return_url": return_url,
        "setup_future_usage": None,
        "setup_intent": None,
        "shipping": shipping,
        # "Defaults to true on ConfirmationToken" (stripe-python's ConfirmationToken): a 3D Secure
        # challenge is handled by Stripe.js (stripe.handleNextAction), as the sandbox's next_action
        # for cards always expects.
        "use_stripe_sdk": True,
    }


def already_used(token: JSON) -> StripeError:
    """400 for a second confirmation with one token.

    No message of Stripe's for a spent ConfirmationToken could be found; this one follows Stripe's
    for a card token used twice ("You cannot use a Stripe token more than once: tok_..."), with
    the code Stripe documents for that case (token_already_used, docs.stripe.com/error-codes).
    """
    return StripeError(
        400,
        f"You cannot use a ConfirmationToken more than once: {token['id']}. It was used to "
        f"confirm {token['payment_intent'] or token['setup_intent']}; create a new "
        "ConfirmationToken to pay again.",
        param="confirmation_token",
        code="token_already_used",
    )


def expired(token: JSON) -> StripeError:
    """400 for a ConfirmationToken past its `expires_at` (no message or code of Stripe's found)."""
    return StripeError(
        400,
        f"This ConfirmationToken has expired: {token['id']}. It can no longer be used to confirm "
        "a PaymentIntent; create a new ConfirmationToken.",
        param="confirmation_token",
    )


class ConfirmationTokens(PaymentMethods):
    """ConfirmationTokens, and what each unused one will pay with (kept, never shown)."""

    def create_confirmation_token(self, params: JSON) -> JSON:
        """POST /v1/confirmation_tokens and /v1/test_helpers/confirmation_tokens."""
        method_id = params.get("payment_method")
        method_data = params.get("payment_method_data")
        if method_id and method_data is not None:
            raise invalid_param(
                "You may only specify one of these parameters: payment_method, "
                "payment_method_data.",
                param="payment_method",
            )
        if method_id:
            pending, method = self._pending_for_method(str(method_id))
        elif isinstance(method_data, dict):
            details = card_details(method_data)
            billing, metadata = method_data.get("billing_details"), method_data.get("metadata")
            pending = PendingMethod(details=details, billing=billing, metadata=metadata)
            method = self._shown_method(details, billing)
        else:
            # Stripe's words when one of two parameters is needed (as for a refund).
            raise invalid_param(
                "One of the following params should be provided for this request: "
                "payment_method or payment_method_data."
            )
        token = confirmation_token(
            method=method,
            shipping=token_shipping(params["shipping"]) if params.get("shipping") else None,
            return_url=params.get("return_url") or None,
            lifetime_s=self.confirmation_token_lifetime_s,
        )
        self._pending_methods[token["id"]] = pending
        return self.confirmation_tokens.add(token)

    def _pending_for_method(self, method_id: str) -> tuple[PendingMethod, JSON]:
        details = test_card_details(method_id)
        if details is not None:  # a card of Stripe's test table, by its `pm_card_*` name
            return PendingMethod(details=details), self._shown_method(details, None)
        return PendingMethod(method_id=method_id), self.existing_method(method_id)

    @staticmethod
    def _shown_method(details: cards.CardDetails, billing: Any) -> JSON:
        """The PaymentMethod confirming will make, to preview (this one is never kept)."""
        return objects.payment_method(details, billing, {})

    def confirmation_token(self, token_id: str) -> JSON:
        """GET /v1/confirmation_tokens/:id: the token, or Stripe's 404."""
        token = self.confirmation_tokens.get(token_id)
        if token is None:
            raise no_such("confirmationtoken", token_id, param="confirmation_token")
        return token

    def usable_confirmation_token(self, token_id: str) -> JSON:
        """A token that may confirm an intent now, or Stripe's 400: unknown, spent or expired."""
        token = self.confirmation_tokens.get(token_id)
        if token is None:
            raise no_such("confirmationtoken", token_id, param="confirmation_token", status=400)
        if token["payment_intent"] or token["setup_intent"]:
            raise already_used(token)
        if time.time() >= token["expires_at"]:
            raise expired(token)
        return token

    def spend_confirmation_token(self, token: JSON, intent: JSON) -> JSON:
        """Mark a usable token used by `intent`; the PaymentMethod it pays with, made now."""
        pending = self._pending_methods.pop(token["id"])
        token["payment_intent"] = intent["id"]
        if pending.method_id is not None:
            return self.existing_method(pending.method_id)
        assert pending.details is not None
        return self.store_method(pending.details, pending.billing, pending.metadata)
