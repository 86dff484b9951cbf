"""Stripe's webhook endpoint: verified, recorded once, applied to the ledger, answered fast."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, current_app, jsonify, request

from bookshop.checkout import payments
from bookshop.config import Settings
from bookshop.orders import ledger
from bookshop.payments import InvalidWebhook, PaymentNotFound, PaymentsUnavailable

log = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__)

# Stripe's events for one payment are a few KiB; anything much bigger is not from Stripe.
MAX_BODY_BYTES = 64 * 1024


def rejected(reason: str) -> Response:
    """A 400 that tells the sender (Stripe's dashboard shows it) why, and nothing more."""
    response = jsonify(error=reason)
    response.status_code = 400
    return response


async def read_body(limit: int) -> bytes | None:
    """The raw body, or None as soon as it passes `limit` bytes (never buffered beyond that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.body:
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)


@blueprint.post("/webhooks/stripe")
async def stripe_webhook() -> Response:
    """Receive one Stripe event: 400 unless signed with the endpoint secret, 200 once recorded."""
    settings: Settings = current_app.extensions["settings"]
    body = await read_body(MAX_BODY_BYTES)
    if body is None:
        return rejected("body too large")
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = payments().verify_webhook(body, signature, settings.stripe_webhook_secret)
    except InvalidWebhook as error:
        log.warning("webhook refused: %s", error)
        return rejected(str(error))
    result = await ledger().apply_event(event)
    if result.stale and event.intent_id:
        # Re-reading the intent is a Stripe call: never on the request path.
        current_app.add_background_task(resync_intent, event.intent_id)
    return jsonify(received=True, replay=result.replay)


async def resync_intent(intent_id: str) -> None:
    """Bring one order in line with the PaymentIntent as Stripe has it now."""
    try:
        state = await payments().intent(intent_id)
    except (PaymentsUnavailable, PaymentNotFound):
        # Reconcile repairs it later; the event itself is already recorded.
        log.warning("could not re-read %s after a late webhook; run reconcile", intent_id)
        return
    change = await ledger().apply_state(state)
    if change is not None:
        before = change.before.status if change.before else "missing"
        log.info("order %s: %s -> %s (re-read)", change.intent_id, before, change.after.status)
