"""The sandbox's state machine: the changes Stripe allows to the objects kept in memory."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bookshop.sandbox import cards, money, objects
from bookshop.sandbox.errors import (
    StripeError,
    invalid_integer,
    invalid_param,
    invalid_request,
    missing_param,
    no_such,
)
from bookshop.sandbox.objects import JSON

UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
# An expanded list inside an object holds its first page only, as Stripe's do.
SUBLIST_LIMIT = 10
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


@dataclass(frozen=True)
class RequestContext:
    """Who asked: recorded on events and used to shape responses."""

    request_id: str | None
    idempotency_key: str | None = None
    origin: str = "http://127.0.0.1:12111"


class CardDeclined(Exception):
    """A confirmation reached the card network and was declined; state is already saved."""

    def __init__(self, intent: JSON, decline: cards.Decline, charge: JSON, method: JSON) -> None:
        super().__init__(decline.message)
        self.intent = intent
        self.decline = decline
        self.charge = charge
        self.method = method


@dataclass
class Collection:
    """Objects of one kind, in creation order, with O(1) lookup by id."""

    items: list[JSON] = field(default_factory=list)
    by_id: dict[str, JSON] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)

    def add(self, obj: JSON) -> JSON:
        """Keep a new object."""
        self.position[obj["id"]] = len(self.items)
        self.items.append(obj)
        self.by_id[obj["id"]] = obj
        return obj

    def get(self, object_id: str) -> JSON | None:
        """The object with this id, if any."""
        return self.by_id.get(object_id)

    def recent(self, count: int) -> list[JSON]:
        """The newest objects first."""
        return self.items[::-1][:count]


EventListener = Callable[[JSON], None]


class Store:
    """All sandbox state. Methods never await, so each runs atomically on the event loop."""

    def __init__(self) -> None:
        self.payment_intents = Collection()
        self.charges = Collection()
        self.payment_methods = Collection()
        self.refunds = Collection()
        self.events = Collection()
        self._card_numbers: dict[str, cards.CardDetails] = {}
        self._charges_by_intent: dict[str, list[str]] = {}
        self._refunds_by_charge: dict[str, list[str]] = {}
        self.listeners: list[EventListener] = []

    def emit(self, event_type: str, obj: JSON, ctx: RequestContext) -> JSON:
        """Record an event holding a snapshot of `obj` and hand it to the listeners."""
        event = objects.event(event_type, obj, ctx.request_id, ctx.idempotency_key)
        self.events.add(event)
        for listener in self.listeners:
            listener(event)
        return event

    def find(self, object_id: str) -> JSON | None:
        """Any object the sandbox keeps, by its id."""
        for collection in (
            self.payment_intents,
            self.charges,
            self.payment_methods,
            self.refunds,
            self.events,
        ):
            found = collection.get(object_id)
            if found is not None:
                return found
        return None

    def payment_intent(self, intent_id: str) -> JSON:
        """The PaymentIntent, or Stripe's 404."""
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise no_such("payment_intent", intent_id, param="intent")
        return intent

    def create_payment_intent(self, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/payment_intents."""
        amount = parse_amount(params["amount"])
        currency = parse_currency(params["currency"])
        check_minimum(amount, currency)
        metadata = merge_metadata({}, params.get("metadata"))
        receipt_email = parse_email(params.get("receipt_email"))
        # Looked up first: a request naming no such method creates nothing.
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
        if params.get("confirm") == "true":
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

    def confirm_payment_intent(self, intent: JSON, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/payment_intents/:id/confirm: charge the card, or ask for 3D Secure."""
        if intent["status"] not in CONFIRMABLE:
            raise unexpected_state_confirm(intent)
        receipt_email = (
            parse_email(params["receipt_email"])
            if "receipt_email" in params
            else intent["receipt_email"]
        )
        if "payment_method_data" in params:
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
        update_shipping(intent, params)
        intent["payment_method"] = method["id"]
        intent["last_payment_error"] = None
        intent["next_action"] = None
        card = cards.lookup(self._card_numbers[method["id"]].number)
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
            card = cards.lookup(self._card_numbers[method["id"]].number)
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

    def create_payment_method(self, params: JSON) -> JSON:
        """POST /v1/payment_methods (and confirm's payment_method_data)."""
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
        details = cards.validate(
            card_params.get("number"),
            card_params.get("exp_month"),
            card_params.get("exp_year"),
            card_params.get("cvc"),
        )
        return self._store_method(details, params.get("billing_details"), params.get("metadata"))

    def _store_method(self, details: cards.CardDetails, billing: Any, metadata: Any) -> JSON:
        method = objects.payment_method(details, billing, merge_metadata({}, metadata))
        self._card_numbers[method["id"]] = details
        return self.payment_methods.add(method)

    def resolve_payment_method(self, method_id: str) -> JSON:
        """An existing PaymentMethod, or a fresh one for Stripe's `pm_card_*` test tokens."""
        number = cards.TEST_PAYMENT_METHODS.get(method_id)
        if number is not None:
            year = time.gmtime().tm_year + 3
            return self._store_method(cards.CardDetails(number, 12, year, "123"), None, None)
        method = self.payment_methods.get(method_id)
        if method is None:
            raise no_such("PaymentMethod", method_id, param="payment_method", status=400)
        return method

    def charge(self, charge_id: str) -> JSON:
        """The Charge, or Stripe's 404."""
        charge = self.charges.get(charge_id)
        if charge is None:
            raise no_such("charge", charge_id, param="id")
        return charge

    def charges_for_intent(self, intent_id: str) -> list[JSON]:
        """Charges of one PaymentIntent, oldest first."""
        return [self.charges.by_id[c] for c in self._charges_by_intent.get(intent_id, [])]

    def create_refund(self, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/refunds, by charge or payment_intent, in full or in part."""
        if params.get("charge"):
            charge = self.charges.get(str(params["charge"]))
            if charge is None:
                raise no_such("charge", str(params["charge"]), param="charge", status=400)
        elif params.get("payment_intent"):
            intent = self.payment_intents.get(str(params["payment_intent"]))
            if intent is None:
                raise no_such(
                    "payment_intent",
                    str(params["payment_intent"]),
                    param="payment_intent",
                    status=400,
                )
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to "
                    "refund.",
                    param="payment_intent",
                    code="charge_not_refundable" if intent["latest_charge"] else None,
                )
            charge = self.charges.by_id[intent["latest_charge"]]
        else:
            raise invalid_param(
                "One of the following params should be provided for this request: "
                "payment_intent or charge."
            )
        if charge["status"] != "succeeded":
            raise invalid_request(
                f"Charge {charge['id']} has not been captured or has failed, so it cannot be "
                "refunded.",
                param="charge",
                code="charge_not_refundable",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid_request(
                f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = parse_amount(params["amount"]) if "amount" in params else remaining
        if amount <= 0:
            raise invalid_param("Invalid positive integer", param="amount")
        if amount > remaining:
            currency = charge["currency"]
            raise invalid_request(
                f"Refund amount ({money.format_amount(amount, currency)}) is greater than "
                f"unrefunded amount on charge ({money.format_amount(remaining, currency)})",
                param="amount",
                code="amount_too_large",
            )
        reason = params.get("reason")
        metadata = merge_metadata({}, params.get("metadata"))
        refund = self.refunds.add(objects.refund(charge, amount, reason or None, metadata))
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._refunds_by_charge.setdefault(charge["id"], []).append(refund["id"])
        # Since API version 2024-10-28.acacia Stripe sends refund.created for every refund, then
        # charge.refunded (docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update).
        # refund.updated follows a change of status; a card refund here succeeds at once and
        # never changes, so none is sent.
        self.emit("refund.created", refund, ctx)
        self.emit("charge.refunded", charge, ctx)
        return refund

    def charge_refunds(self, charge_id: str) -> JSON:
        """A Charge's `refunds` list, newest first, for `expand[]=refunds`."""
        ids = self._refunds_by_charge.get(charge_id, [])
        newest = [self.refunds.by_id[refund_id] for refund_id in reversed(ids)]
        return {
            "object": "list",
            "data": newest[:SUBLIST_LIMIT],
            "has_more": len(newest) > SUBLIST_LIMIT,
            "url": f"/v1/charges/{charge_id}/refunds",
        }

    def refund(self, refund_id: str) -> JSON:
        """The Refund, or Stripe's 404."""
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise no_such("refund", refund_id, param="id")
        return refund


def paginate(
    collection: Collection,
    params: JSON,
    url: str,
    matches: Callable[[JSON], bool] | None = None,
) -> JSON:
    """A Stripe list object, newest first, honouring limit, starting_after and ending_before."""
    limit = parse_limit(params.get("limit"))
    created = params.get("created")
    test = _created_filter(created) if created is not None else None

    def wanted(obj: JSON) -> bool:
        return (test is None or test(obj["created"])) and (matches is None or matches(obj))

    items = collection.items
    if params.get("ending_before"):
        start = _cursor(collection, str(params["ending_before"]), "ending_before")
        newer = (obj for obj in items[start + 1 :] if wanted(obj))
        page, has_more = _take(newer, limit)
        page.reverse()
    else:
        end = len(items)
        if params.get("starting_after"):
            end = _cursor(collection, str(params["starting_after"]), "starting_after")
        older = (items[i] for i in range(end - 1, -1, -1) if wanted(items[i]))
        page, has_more = _take(older, limit)
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _take(source: Iterator[JSON], limit: int) -> tuple[list[JSON], bool]:
    page: list[JSON] = []
    for obj in source:
        if len(page) == limit:
            return page, True
        page.append(obj)
    return page, False


def _cursor(collection: Collection, object_id: str, param: str) -> int:
    position = collection.position.get(object_id)
    if position is None:
        kind = collection.items[0]["object"] if collection.items else "object"
        raise no_such(kind, object_id, param=param, status=400)
    return position


def _created_filter(created: str | dict[str, str]) -> Callable[[int], bool]:
    # validation let through only an integer or a hash of gt, gte, lt and lte.
    if isinstance(created, str):
        exact = parse_int(created, "created")
        return lambda value: value == exact
    bounds = {op: parse_int(bound, f"created[{op}]") for op, bound in created.items()}

    def test(value: int) -> bool:
        return (
            ("gt" not in bounds or value > bounds["gt"])
            and ("gte" not in bounds or value >= bounds["gte"])
            and ("lt" not in bounds or value < bounds["lt"])
            and ("lte" not in bounds or value <= bounds["lte"])
        )

    return test


def parse_int(value: Any, param: str) -> int:
    """An integer parameter, or Stripe's invalid-integer error."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise invalid_integer(param, value)


def parse_limit(value: Any) -> int:
    """`limit`: 1 to 100, default 10."""
    if value is None:
        return 10
    limit = parse_int(value, "limit")
    if not 1 <= limit <= 100:
        raise invalid_param(
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            param="limit",
        )
    return limit


def parse_amount(value: str) -> int:
    """A non-negative integer amount (validation made sure it is an integer)."""
    amount = parse_int(value, "amount")
    if amount < 0:
        raise invalid_param("This value must be greater than or equal to 0.", param="amount")
    if amount > money.MAXIMUM_AMOUNT:
        raise invalid_param(
            "Amount must be no more than $999,999.99", param="amount", code="amount_too_large"
        )
    return amount


def parse_currency(value: str) -> str:
    """A supported currency, lower case (validation made sure one was given)."""
    currency = value.lower()
    if currency not in money.SUPPORTED:
        raise invalid_param(
            f"Invalid currency: {value}. Stripe currently supports these currencies: "
            f"{money.supported_list()}",
            param="currency",
        )
    return currency


def check_minimum(amount: int, currency: str) -> None:
    """Stripe refuses charges below the currency's minimum."""
    minimum = money.minimum_amount(currency)
    if amount < minimum:
        raise invalid_param(
            f"Amount must be at least {money.format_amount(minimum, currency)} {currency}",
            param="amount",
            code="amount_too_small",
        )


# Stripe documents only that a refused address is "not properly formatted" (error code
# email_invalid, https://docs.stripe.com/error-codes): the sandbox takes an RFC 5322 dot-atom local
# part and a DNS domain with an alphabetic top-level label, which refuses what Stripe does in
# practice (spaces, consecutive or leading dots, no or a one-letter top-level domain).
EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def parse_email(value: Any, param: str = "receipt_email") -> str | None:
    """An email address, `""` to clear it, or Stripe's email_invalid error."""
    if value is None or value == "":
        return None
    text = str(value)
    local = text.partition("@")[0]
    if len(text) > 254 or len(local) > 64 or not EMAIL.match(text):
        raise invalid_param(f"Invalid email address: {text}", param=param, code="email_invalid")
    return text


def merge_metadata(current: JSON, update: Any) -> JSON:
    """Stripe's metadata rules: keys merge, an empty value deletes a key, `metadata=` clears all.

    validation has checked each key and value; how many keys there are depends on `current`.
    """
    if update is None:
        return dict(current)
    if update == "":
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise invalid_param("Metadata can have up to 50 keys.", param="metadata")
    return merged


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
