"""Stripe's webhook endpoint: verified, recorded once, applied to the ledger, answered fast."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import cast

from quart import Blueprint, Response, current_app, jsonify, request

from bookshop import metrics
from bookshop.config import Settings
from bookshop.orders import ledger
from bookshop.orders.schema import PAID
from bookshop.payments import (
    Intent,
    InvalidWebhook,
    PaymentNotFound,
    PaymentsUnavailable,
    payments,
)
from bookshop.security import policy
from bookshop.stock import keeper

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
@policy(csrf_exempt=True)
async def stripe_webhook() -> Response:
    """Receive one Stripe event: 400 unless signed with the endpoint secret, 200 once recorded.

    503 when the event needs a re-read of its intent and Stripe cannot be reached.
    """
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
    # Every verified delivery, Stripe's retries included: how late the shop hears what happened.
    metrics.webhook_received(event.created)
    result = await ledger().apply_event(event)
    if result.stale:
        # Only the intent as Stripe has it now can apply this event. It is recorded once that is
        # done, so if Stripe cannot be reached a 503 makes Stripe send it again later.
        intent_id = cast(str, event.intent_id)
        try:
            state: Intent | None = await payments().intent(intent_id)
        except PaymentsUnavailable:
            log.warning("could not re-read %s for event %s; Stripe will retry", intent_id, event.id)
            response = jsonify(error="payments unavailable, retry later")
            response.status_code = 503
            return response
        except PaymentNotFound:
            log.warning("event %s names %s, which Stripe does not have", event.id, intent_id)
            state = None
        result = await ledger().apply_late(event, state)
        if (change := result.change) is not None:
            before = change.before.status if change.before else "missing"
            log.info("order %s: %s -> %s (re-read)", change.intent_id, before, change.after.status)
    if event.type == "payment_intent.succeeded" and event.intent_id and not result.replay:
        order = await ledger().get(event.intent_id)
        if order is not None and order.refund_reason and order.status == PAID:
            # Paid for copies that were gone: refunded at once, after Stripe has its answer
            # (the keeper's next round tries again if Stripe cannot be reached now).
            current_app.add_background_task(refund_quietly, order.intent_id)
    return jsonify(received=True, replay=result.replay)


async def refund_quietly(intent_id: str) -> None:
    """Refund an order whose copies were gone; Stripe unreachable leaves it to the keeper."""
    with suppress(PaymentsUnavailable):
        await keeper.refund(ledger(), payments(), intent_id)
