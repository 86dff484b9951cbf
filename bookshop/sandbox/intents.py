"""PaymentIntents' state machine: create, update, confirm (with a PaymentMethod, card data or a
ConfirmationToken), 3D Secure, cancel; each confirmation's Charge and events."""

from __future__ import annotations

import time

from bookshop.sandbox import cards, objects
from bookshop.sandbox.confirmation_tokens import ConfirmationTokens
from bookshop.sandbox.errors import StripeError, invalid_param, no_such
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.parsing import (
    check_minimum,
    merge_metadata,
    parse_amount,
    parse_currency,
    parse_email,
)
from bookshop.sandbox.records import RequestContext

UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
# Parameters that may be sent on create only with confirm=true.
CONFIRM_ONLY = ("confirmation_token", "return_url")


class CardDeclined(Exception):
    """A confirmation reached the card network and was declined; state is already saved."""

    def __init__(self, intent: JSON, decline: cards.Decline, charge: JSON, method: JSON) -> None:
        super().__init__(decline.message)
        self.intent = intent
        self.decline = decline
        self.charge = charge
        self.method = method


class PaymentIntents(ConfirmationTokens):
    """PaymentIntents and the changes Stripe allows them."""

    def payment_intent(self, intent_id: str) -> JSON:
        """The PaymentIntent, or Stripe's 404."""
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise no_such("payment_intent", intent_id, param="intent")
        return intent

    def create_payment_intent(self, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/payment_intents (and, with confirm=true, its confirmation)."""
        amount = parse_amount(params["amount"])
        currency = parse_currency(params["currency"])
        check_minimum(amount, currency)
        metadata = merge_metadata({}, params.get("metadata"))
        receipt_email = parse_email(params.get("receipt_email"))
        confirm = params.get("confirm") == "true"
        for name in CONFIRM_ONLY:
            if name in params and not confirm:
                raise invalid_param(
                    f"The parameter `{name}` cannot be passed when creating a PaymentIntent "
                    "unless `confirm` is set to true.",
                    param=name,
                    code="payment_intent_invalid_parameter",
                )
        # Looked up first: a request naming no such method, or a token it may not use, creates
        # nothing.
        self._check_confirmation_token(params)
        method = (
            self.resolve_payment_method(str(params["payment_method"]))
            if "payment_method" in params
            else None
        )
        types = params.get("allowed_payment_method_types")
        automatic = params.get("automatic_payment_methods")
        if isinstance(automatic, dict):
            automatic_value: JSON | None = {
                "allow_redirects": automatic.get("allow_redirects", "always"),
                "enabled": automatic["enabled"] == "true",
            }
        elif types is None:
            # Since 2023-08-16 Stripe turns on automatic payment methods when none are named.
            automatic_value = {"allow_redirects": "always", "enabled": True}
        else:
            automatic_value = None
        intent = objects.payment_intent(
            amount=amount,
            currency=currency,
            automatic_payment_methods=automatic_value,
            capture_method=params.get("capture_method", "automatic_async"),
            description=params.get("description") or None,
            metadata=metadata,
            payment_method_types=list(types) if types else ["card"],
            receipt_email=receipt_email,
            setup_future_usage=params.get("setup_future_usage") or None,
            shipping=objects.shipping(params["shipping"]) if "shipping" in params else None,
            statement_descriptor=params.get("statement_descriptor") or None,
            statement_descriptor_suffix=params.get("statement_descriptor_suffix") or None,
        )
        self.payment_intents.add(intent)
        self.emit("payment_intent.created", intent, ctx)
        if method is not None:
            self._attach_payment_method(intent, method)
        if confirm:
            # Confirm with the method attached above: resolving `payment_method` again would
            # make a second PaymentMethod for a `pm_card_*` token.
            confirming = {key: value for key, value in params.items() if key != "payment_method"}
            self.confirm_payment_intent(intent, confirming, ctx)
        return intent

    def update_payment_intent(self, intent: JSON, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/payment_intents/:id (amount and currency only while it is still payable)."""
        fields = [key for key in params if key not in ("expand",)]
        money_fields = [key for key in fields if key in ("amount", "currency", "payment_method")]
        blocked = fields if intent["status"] == "canceled" else money_fields
        if blocked and intent["status"] not in UPDATABLE:
            raise unexpected_state_update(intent, blocked[0])
        # Everything is checked before anything changes: a refused update leaves no trace.
        amount = parse_amount(params["amount"]) if "amount" in params else intent["amount"]
        currency = (
            parse_currency(params["currency"]) if "currency" in params else intent["currency"]
        )
        if "amount" in params or "currency" in params:
            check_minimum(amount, currency)
        metadata = merge_metadata(intent["metadata"], params.get("metadata"))
        receipt_email = (
            parse_email(params["receipt_email"])
            if "receipt_email" in params
            else intent["receipt_email"]
        )
        method = (
            self.resolve_payment_method(str(params["payment_method"]))
            if "payment_method" in params
            else None
        )
        intent.update(amount=amount, currency=currency, metadata=metadata)
        intent["receipt_email"] = receipt_email
        for key in ("description", "statement_descriptor", "statement_descriptor_suffix"):
            if key in params:  # none of them may be "" (validation)
                intent[key] = params[key]
        if "setup_future_usage" in params:
            intent["setup_future_usage"] = params["setup_future_usage"] or None
        update_shipping(intent, params)
        if method is not None:
            self._attach_payment_method(intent, method)
        return intent

    def _attach_payment_method(self, intent: JSON, method: JSON) -> None:
        intent["payment_method"] = method["id"]
        if intent["status"] == "requires_payment_method":
            intent["status"] = "requires_confirmation"

    def _check_confirmation_token(self, params: JSON) -> JSON | None:
        """The usable ConfirmationToken a request names, if any (else Stripe's 400).

        A token beside a payment method of the request's own is refused. Stripe's reference
        says of `confirmation_token` that the request's values "take precedence", naming
        `payment_method` among them; the sandbox refuses the pair rather than guess which one
        a shop meant to pay with.
        """
        if "confirmation_token" not in params:
            return None
        for other in ("payment_method", "payment_method_data"):
            if other in params:
                raise invalid_param(
                    f"You may only specify one of these parameters: confirmation_token, {other}.",
                    param="confirmation_token",
                )
        return self.usable_confirmation_token(str(params["confirmation_token"]))

    def confirm_payment_intent(self, intent: JSON, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/payment_intents/:id/confirm: charge the card, or ask for 3D Secure."""
        if intent["status"] not in CONFIRMABLE:
            raise unexpected_state_confirm(intent)
        token = self._check_confirmation_token(params)
        receipt_email = (
            parse_email(params["receipt_email"])
            if "receipt_email" in params
            else intent["receipt_email"]
        )
        if token is not None:
            method = self.spend_confirmation_token(token, intent)
        elif "payment_method_data" in params:
            method = self.create_payment_method(params["payment_method_data"])
        elif params.get("payment_method"):
            method = self.resolve_payment_method(str(params["payment_method"]))
        elif intent["payment_method"]:
            method = self.payment_methods.by_id[intent["payment_method"]]
        else:
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method. You "
                "can either update the PaymentIntent with a payment method and then confirm it "
                "again, or confirm it again directly with a payment method.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": intent},
            )
        intent["receipt_email"] = receipt_email
        if token is not None and "shipping" not in params and token["shipping"] is not None:
            # The token's values are written onto the intent; the request's own take precedence
            # (stripe-python's `confirmation_token` parameter, from Stripe's API reference).
            intent["shipping"] = objects.shipping(token["shipping"])
        else:
            update_shipping(intent, params)
        intent["payment_method"] = method["id"]
        intent["last_payment_error"] = None
        intent["next_action"] = None
        card = self.test_card(method)
        if card.behaviour is cards.Behaviour.THREE_DS:
            intent["status"] = "requires_action"
            intent["next_action"] = objects.three_d_secure_action(intent, ctx.origin)
            self.emit("payment_intent.requires_action", intent, ctx)
            return intent
        return self._charge(intent, method, card.decline, ctx, three_d_secure=False)

    def resolve_three_d_secure(self, intent: JSON, approve: bool, ctx: RequestContext) -> JSON:
        """Finish a 3D Secure challenge: charge the card, or record the failed authentication."""
        if intent["status"] != "requires_action":
            raise unexpected_state_confirm(intent)
        method = self.payment_methods.by_id[intent["payment_method"]]
        intent["next_action"] = None
        if approve:
            card = self.test_card(method)
            try:
                return self._charge(intent, method, card.decline, ctx, three_d_secure=True)
            except CardDeclined as declined:
                return declined.intent
        intent["status"] = "requires_payment_method"
        intent["payment_method"] = None
        intent["last_payment_error"] = objects.authentication_failure(method)
        self.emit("payment_intent.payment_failed", intent, ctx)
        return intent

    def _charge(
        self,
        intent: JSON,
        method: JSON,
        decline: cards.Decline | None,
        ctx: RequestContext,
        *,
        three_d_secure: bool,
    ) -> JSON:
        charge = self.charges.add(
            objects.charge(
                intent, method, decline, origin=ctx.origin, three_d_secure=three_d_secure
            )
        )
        self._charges_by_intent.setdefault(intent["id"], []).append(charge["id"])
        intent["latest_charge"] = charge["id"]
        if decline is None:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            self.emit("charge.succeeded", charge, ctx)
            self.emit("payment_intent.succeeded", intent, ctx)
            return intent
        intent["status"] = "requires_payment_method"
        intent["payment_method"] = None
        intent["last_payment_error"] = objects.decline_error(decline, charge["id"], method)
        self.emit("charge.failed", charge, ctx)
        self.emit("payment_intent.payment_failed", intent, ctx)
        raise CardDeclined(intent, decline, charge, method)

    def cancel_payment_intent(self, intent: JSON, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/payment_intents/:id/cancel."""
        if intent["status"] not in CANCELABLE:
            raise StripeError(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
                f"be canceled: {', '.join(CANCELABLE)}.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": intent},
            )
        intent["status"] = "canceled"
        intent["canceled_at"] = int(time.time())
        intent["cancellation_reason"] = params.get("cancellation_reason")
        intent["next_action"] = None
        self.emit("payment_intent.canceled", intent, ctx)
        return intent


def update_shipping(intent: JSON, params: JSON) -> None:
    """Replace the PaymentIntent's shipping as given; `shipping=` (empty) removes it."""
    if "shipping" in params:
        given = params["shipping"]
        intent["shipping"] = objects.shipping(given) if given else None


def unexpected_state_confirm(intent: JSON) -> StripeError:
    """400 payment_intent_unexpected_state for confirming a finished PaymentIntent."""
    status = intent["status"]
    if status == "succeeded":
        message = (
            "You cannot confirm this PaymentIntent because it has already succeeded after being "
            "previously confirmed."
        )
    else:
        message = (
            f"You cannot confirm this PaymentIntent because it has a status of {status}. Only a "
            "PaymentIntent with one of the following statuses may be confirmed: "
            "requires_confirmation, requires_payment_method, requires_action."
        )
    return StripeError(
        400, message, code="payment_intent_unexpected_state", extra={"payment_intent": intent}
    )


def unexpected_state_update(intent: JSON, field_name: str) -> StripeError:
    """400 payment_intent_unexpected_state for changing what can no longer change."""
    return StripeError(
        400,
        f"This PaymentIntent's {field_name} could not be updated because it has a status of "
        f"{intent['status']}. You may only update the {field_name} of a PaymentIntent with one of "
        f"the following statuses: {', '.join(UPDATABLE)}.",
        code="payment_intent_unexpected_state",
        param=field_name,
        extra={"payment_intent": intent},
    )
