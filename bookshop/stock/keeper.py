"""What keeps stock and payments in step over time: reservations that outlived their time (their
payment canceled at Stripe first, then the copies released) and payments made for copies that
were gone (refunded). Each shop process runs it every so often; every step is safe to run twice
or in two processes at once (conditional updates, Stripe idempotency keys)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from bookshop.orders import Ledger
from bookshop.orders.schema import OUT_OF_STOCK
from bookshop.payments import (
    Intent,
    PaymentNotFound,
    Payments,
    PaymentsUnavailable,
    RefundRefused,
)

log = logging.getLogger(__name__)

EVERY_SECONDS = 30
# How far before a reservation its intent may have been created (clocks differ a little).
MARGIN = timedelta(minutes=5)
# A payment Stripe may still complete: its copies stay held until it does or fails.
UNDER_WAY = ("processing", "requires_capture")


async def expire(orders: Ledger, gateway: Payments, moment: datetime | None = None) -> int:
    """Cancel, then release, every payment whose reservation outlived its time: the cancel comes
    first, so a late 3D Secure approval cannot charge for copies gone back on sale (if Stripe
    says it was paid already, the copies are sold instead). How many checkouts it handled."""
    handled = 0
    for hold in await orders.stock.expired(moment or datetime.now(UTC)):
        try:
            intent = await _paying(gateway, hold.intent_id, hold.checkout_id, hold.since)
            if intent is not None:
                if intent.status not in ("succeeded", "canceled"):
                    intent = await gateway.cancel(intent.id)
                if intent.status in UNDER_WAY:
                    continue
                await orders.apply_state(intent)  # paid: sold; canceled: released
        except PaymentsUnavailable:
            continue  # Stripe unreachable: the next round tries again, the copies still held
        await orders.stock.release(
            "expired", checkout_id=hold.checkout_id, intent_id=hold.intent_id
        )
        handled += 1
    return handled


async def refund_out_of_stock(orders: Ledger, gateway: Payments) -> list[Intent]:
    """Refund, once, every paid order whose copies were gone; the intents as refunded."""
    refunded = []
    for intent_id in await orders.to_refund():
        try:
            refunded.append(await refund(orders, gateway, intent_id))
        except PaymentsUnavailable:
            continue
    return refunded


async def refund(orders: Ledger, gateway: Payments, intent_id: str) -> Intent:
    """Refund a paid order whose copies were gone, and record it; the intent as refunded."""
    try:
        intent = await gateway.refund(intent_id, OUT_OF_STOCK)
    except RefundRefused as refused:
        if refused.code != "already_refunded":
            raise
        # Staff refunded it in full first: done, and the ledger takes it from Stripe's intent.
        intent = await gateway.intent(intent_id)
    await orders.apply_state(intent)
    log.warning("order %s refunded: out of stock", intent_id)
    return intent


async def run(orders: Ledger, gateway: Payments) -> None:
    """Keep at it until the shop stops."""
    while True:
        await asyncio.sleep(EVERY_SECONDS)
        try:
            await expire(orders, gateway)
            await refund_out_of_stock(orders, gateway)
        except Exception:
            # A bug must not stop the next rounds; the log names it (no secrets in it).
            log.exception("keeping stock and payments in step failed; trying again")


async def _paying(
    gateway: Payments, intent_id: str | None, checkout_id: str, since: datetime
) -> Intent | None:
    # The intent paying for a hold: the one the pay step heard of, else the checkout's newest
    # (a Pay whose answer never came back), else none was made.
    if intent_id is not None:
        try:
            return await gateway.intent(intent_id)
        except PaymentNotFound:
            return None
    return await gateway.checkout_intent(checkout_id, since - MARGIN)
