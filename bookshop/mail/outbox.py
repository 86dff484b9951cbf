"""The outbox: a message to a shopper written in the transaction of the change it tells of, so
the order is never paid, shipped or refunded without its message, nor a message written for a
change that rolled back. Each message has a key; writing it again adds nothing, so every path
that makes an order paid (the pay step, the result page, webhooks, reconcile) may run as often as
it likes and the shopper gets one confirmation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.database import Database
from bookshop.mail.schema import CONFIRMATION, REFUNDED, SHIPPED, outbox

__all__ = ["CONFIRMATION", "REFUNDED", "SHIPPED", "enqueue", "key_of"]


def key_of(kind: str, intent_id: str, amount_refunded: int | None = None) -> str:
    """What makes a message one: a confirmation and a shipping notice once per order, a refund
    notice once per amount refunded in all (staff's refund and Stripe's charge.refunded for it
    say the same amount, so they make one notice)."""
    if kind == REFUNDED:
        return f"{kind}:{intent_id}:{amount_refunded}"
    return f"{kind}:{intent_id}"


async def enqueue(
    connection: AsyncConnection,
    database: Database,
    kind: str,
    intent_id: str,
    recipient: str | None,
    **payload: Any,
) -> bool:
    """Write a message to send about an order, in the caller's transaction; nothing for an order
    without an email. `payload`: what the order will not say when the message is written (a
    refund's `refunded` and `amount_refunded`). True when it was new."""
    if not recipient:
        return False
    moment = datetime.now(UTC)
    written = await connection.execute(
        database.insert(outbox)
        .values(
            intent_id=intent_id,
            kind=kind,
            key=key_of(kind, intent_id, payload.get("amount_refunded")),
            recipient=recipient,
            payload=json.dumps(payload, sort_keys=True),
            created_at=moment,
            attempts=0,
            next_attempt_at=moment,
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.key])
        .returning(outbox.c.id)
    )
    return written.first() is not None
