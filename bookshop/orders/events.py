"""Stripe's webhook events in the ledger: each event id recorded once, then applied through the
transitions; an event only a fresh read of its intent can apply comes back `stale`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.database import Database
from bookshop.orders.schema import PAYABLE, orders, webhook_events
from bookshop.orders.transitions import Change, Transitions, now
from bookshop.payments import Intent, WebhookEvent


@dataclass(frozen=True)
class EventResult:
    """How the ledger took a webhook event."""

    replay: bool
    # Only the intent as Stripe has it now can apply the event: re-read it, then `apply_late`.
    stale: bool = False
    change: Change | None = None  # what `apply_late`'s re-read changed


def needs_re_read(event: WebhookEvent, known: Any) -> bool:
    """True when only a fresh read of the event's intent can apply it; `known` is the order's
    (stripe_seen, status) row, None when the ledger lacks the order."""
    if event.intent_id is None:
        return False
    if known is None:
        return event.intent is None  # a charge event: only the intent says what was bought
    if event.created < known.stripe_seen:
        return True  # older than what the ledger knows
    # A refund of an order the ledger still has as payable: its payment went unheard, so what
    # was paid (amount, lines) must come from the intent.
    return event.type == "charge.refunded" and known.status in PAYABLE


class Events:
    """Applies verified webhook events to the ledger, each once."""

    def __init__(self, database: Database, transitions: Transitions) -> None:
        self.database = database
        self.transitions = transitions

    async def seen(self, event_id: str) -> bool:
        """True once a webhook event id has been recorded."""
        async with self.database.reading() as connection:
            found = await connection.execute(
                select(webhook_events.c.id).where(webhook_events.c.id == event_id)
            )
            return found.first() is not None

    async def apply(self, event: WebhookEvent) -> EventResult:
        """Record a verified webhook event once and apply it; a replay changes nothing.

        An event only a re-read of its intent can apply comes back `stale` and is not recorded:
        the caller re-reads and calls `apply_late`, so a re-read that fails can be retried.
        """
        async with self.database.transaction() as connection:
            known = None
            if event.intent_id is not None:
                known = (
                    await connection.execute(
                        select(orders.c.stripe_seen, orders.c.status).where(
                            orders.c.intent_id == event.intent_id
                        )
                    )
                ).first()
            if needs_re_read(event, known):
                recorded = await connection.execute(
                    select(webhook_events.c.id).where(webhook_events.c.id == event.id)
                )
                replay = recorded.first() is not None
                return EventResult(replay=replay, stale=not replay)
            if not await self._record(connection, event):
                return EventResult(replay=True)
            if event.intent_id is None:
                return EventResult(replay=False)
            return await self._apply(connection, event, known is not None)

    async def apply_late(self, event: WebhookEvent, state: Intent | None) -> EventResult:
        """Record a `stale` event with its intent as re-read since (None: Stripe has none)."""
        transitions = self.transitions
        async with self.database.transaction() as connection:
            if not await self._record(connection, event):
                return EventResult(replay=True)
            change = None if state is None else await transitions.apply_state(connection, state)
            if event.type == "payment_intent.payment_failed" and event.intent_id is not None:
                # Every decline counts, also one heard after the payment that followed it, and
                # once: a re-read or reconcile may have counted it already.
                declines = (
                    select(func.count())
                    .select_from(webhook_events)
                    .where(
                        webhook_events.c.intent_id == event.intent_id,
                        webhook_events.c.type == event.type,
                    )
                    .scalar_subquery()
                )
                await transitions.update(
                    connection, event.intent_id, orders.c.attempts < declines, attempts=declines
                )
            return EventResult(replay=False, change=change)

    async def _record(self, connection: AsyncConnection, event: WebhookEvent) -> bool:
        # False when the event id is already recorded (a replay).
        recorded = await connection.execute(
            self.database.insert(webhook_events)
            .values(id=event.id, type=event.type, intent_id=event.intent_id, received_at=now())
            .on_conflict_do_nothing(index_elements=[webhook_events.c.id])
            .returning(webhook_events.c.id)
        )
        return recorded.first() is not None

    async def _apply(
        self, connection: AsyncConnection, event: WebhookEvent, known: bool
    ) -> EventResult:
        transitions = self.transitions
        intent = event.intent
        intent_id = cast(str, event.intent_id)
        if intent is not None:
            if not intent.lines and not known:
                return EventResult(replay=False)  # not one of the shop's checkouts
            await transitions.ensure(connection, intent)
        await transitions.seen(connection, intent_id, event.created)
        if event.type == "payment_intent.succeeded" and intent is not None:
            await transitions.to_paid(connection, intent)
        elif event.type == "payment_intent.payment_failed" and intent is not None:
            await transitions.attempt_failed(connection, intent_id, intent.decline_code)
        elif event.type == "payment_intent.canceled":
            await transitions.to_canceled(connection, intent_id)
        elif event.type == "charge.refunded":
            await transitions.refund(connection, intent_id, event.charge_id, event.amount_refunded)
            if event.refunded:
                await transitions.to_refunded(connection, intent_id, event.charge_id)
        return EventResult(replay=False)
