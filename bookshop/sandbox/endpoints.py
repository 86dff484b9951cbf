"""What each `/v1` endpoint does, over the store; `routing` says who may call it."""

from __future__ import annotations

from collections.abc import Callable

from bookshop.sandbox import errors
from bookshop.sandbox.listing import paginate
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.routing import Call, checked_intent, found, intent_view, route
from bookshop.sandbox.runtime import SandboxState


@route("POST", "/v1/payment_intents")
def create_payment_intent(sandbox: SandboxState, call: Call) -> JSON:
    """Create a PaymentIntent (and, with confirm=true, confirm it)."""
    return intent_view(sandbox.store.create_payment_intent(call.params, call.ctx), call)


@route("GET", "/v1/payment_intents")
def list_payment_intents(sandbox: SandboxState, call: Call) -> JSON:
    """List PaymentIntents, newest first."""
    return paginate(sandbox.store.payment_intents, call.params, "/v1/payment_intents")


@route("GET", "/v1/payment_intents/{intent}", publishable_ok=True)
def retrieve_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Retrieve a PaymentIntent (a browser may, with the client secret)."""
    return intent_view(checked_intent(sandbox, intent, call), call)


@route("POST", "/v1/payment_intents/{intent}")
def update_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Update a PaymentIntent."""
    updated = sandbox.store.update_payment_intent(
        sandbox.store.payment_intent(intent), call.params, call.ctx
    )
    return intent_view(updated, call)


@route("POST", "/v1/payment_intents/{intent}/confirm", publishable_ok=True)
def confirm_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Confirm a PaymentIntent: from the server, or from the browser with the client secret."""
    checked = checked_intent(sandbox, intent, call)
    confirmed = sandbox.store.confirm_payment_intent(checked, call.params, call.ctx)
    return intent_view(confirmed, call)


@route("POST", "/v1/payment_intents/{intent}/cancel")
def cancel_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Cancel a PaymentIntent."""
    canceled = sandbox.store.cancel_payment_intent(
        sandbox.store.payment_intent(intent), call.params, call.ctx
    )
    return intent_view(canceled, call)


@route("POST", "/v1/confirmation_tokens", publishable_ok=True)
def create_confirmation_token(sandbox: SandboxState, call: Call) -> JSON:
    """Create a ConfirmationToken, as Stripe.js does from the card fields with the publishable
    key (validation refuses a card number sent with the secret key, as Stripe does)."""
    return sandbox.store.create_confirmation_token(call.params)


@route("POST", "/v1/test_helpers/confirmation_tokens")
def create_test_confirmation_token(sandbox: SandboxState, call: Call) -> JSON:
    """Create a ConfirmationToken from the server, for tests (`payment_method=pm_card_visa`)."""
    return sandbox.store.create_confirmation_token(call.params)


@route("GET", "/v1/confirmation_tokens/{confirmation_token}")
def retrieve_confirmation_token(sandbox: SandboxState, call: Call, confirmation_token: str) -> JSON:
    """Retrieve a ConfirmationToken."""
    return sandbox.store.confirmation_token(confirmation_token)


@route("GET", "/v1/charges")
def list_charges(sandbox: SandboxState, call: Call) -> JSON:
    """List Charges, optionally of one PaymentIntent."""
    intent_id = call.params.get("payment_intent")
    matches: Callable[[JSON], bool] | None = None
    if intent_id:
        matches = lambda charge: charge["payment_intent"] == intent_id  # noqa: E731
    return paginate(sandbox.store.charges, call.params, "/v1/charges", matches)


@route("GET", "/v1/charges/{charge}")
def retrieve_charge(sandbox: SandboxState, call: Call, charge: str) -> JSON:
    """Retrieve a Charge."""
    return sandbox.store.charge(charge)


@route("POST", "/v1/payment_methods", publishable_ok=True)
def create_payment_method(sandbox: SandboxState, call: Call) -> JSON:
    """Create a card PaymentMethod (Stripe.js does this with the publishable key)."""
    return sandbox.store.create_payment_method(call.params)


@route("GET", "/v1/payment_methods/{payment_method}")
def retrieve_payment_method(sandbox: SandboxState, call: Call, payment_method: str) -> JSON:
    """Retrieve a PaymentMethod."""
    method = sandbox.store.payment_methods.get(payment_method)
    return found(method, "payment_method", payment_method, param="payment_method")


@route("POST", "/v1/refunds")
def create_refund(sandbox: SandboxState, call: Call) -> JSON:
    """Refund a charge in full or in part."""
    return sandbox.store.create_refund(call.params, call.ctx)


@route("GET", "/v1/refunds")
def list_refunds(sandbox: SandboxState, call: Call) -> JSON:
    """List Refunds, newest first, optionally of one Charge or PaymentIntent."""
    wanted = {key: call.params[key] for key in ("charge", "payment_intent") if key in call.params}
    matches: Callable[[JSON], bool] | None = None
    if wanted:
        matches = lambda refund: all(refund[k] == v for k, v in wanted.items())  # noqa: E731
    return paginate(sandbox.store.refunds, call.params, "/v1/refunds", matches)


@route("GET", "/v1/refunds/{refund}")
def retrieve_refund(sandbox: SandboxState, call: Call, refund: str) -> JSON:
    """Retrieve a Refund."""
    return sandbox.store.refund(refund)


@route("GET", "/v1/events")
def list_events(sandbox: SandboxState, call: Call) -> JSON:
    """List Events, newest first, optionally of one type (`*` a wildcard) or of several."""
    event_type = call.params.get("type")
    types = call.params.get("types")
    matches: Callable[[JSON], bool] | None = None
    if event_type is not None and types is not None:
        # Stripe's reference: "You may pass either `type` or `types`, but not both."
        raise errors.invalid_param("You may pass either type or types, but not both.")
    if types is not None:
        wanted = set(types)
        matches = lambda event: event["type"] in wanted  # noqa: E731
    elif event_type is not None:
        if event_type.endswith(".*"):
            prefix = event_type[:-1]
            matches = lambda event: event["type"].startswith(prefix)  # noqa: E731
        else:
            matches = lambda event: event["type"] == event_type  # noqa: E731
    return paginate(sandbox.store.events, call.params, "/v1/events", matches)


@route("GET", "/v1/events/{id}")
def retrieve_event(sandbox: SandboxState, call: Call, id: str) -> JSON:
    """Retrieve an Event."""
    return found(sandbox.store.events.get(id), "event", id, param="id")
