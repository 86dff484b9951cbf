"""The orders ledger: one order per PaymentIntent, written by every path that learns something
about a payment, through the transitions in `transitions.py`.

- the pay step's answer (`record_payment`);
- the result page (`mark_paid`);
- Stripe's webhook events (`events.py`);
- reconcile and re-reads (`apply_state`);
- staff's refunds and shipping (`refunded`, `mark_shipped`, in `staff.py`).
"""

from __future__ import annotations

from typing import cast

from quart import current_app
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bookshop.database import Database
from bookshop.orders.events import EventResult, Events
from bookshop.orders.migrate import upgrade
from bookshop.orders.paid_count import counts_paid
from bookshop.orders.schema import PAID, PAYABLE, Order, orders
from bookshop.orders.staff import Audit, StaffActions, StaffRefund
from bookshop.orders.transitions import Change, Transitions
from bookshop.payments import Intent, WebhookEvent
from bookshop.stock import Stock


class Ledger:
    """The orders table behind one async engine: SQLite by default, PostgreSQL to scale out."""

    def __init__(self, database_url: str) -> None:
        self.database = Database(database_url)
        # Stock moves with the orders, in their transactions: a paid order sells its copies.
        self.stock = Stock(self.database)
        self._transitions = Transitions(self.database, self.stock)
        self._events = Events(self.database, self._transitions)
        self._staff = StaffActions(self.database, self._transitions, self.stock)

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (after `open()`)."""
        return self.database.engine

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        if self.database.is_open:
            return
        await self.database.open()
        await upgrade(self.database)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.database.close()

    async def get(self, intent_id: str) -> Order | None:
        """The order for a PaymentIntent, if the ledger has it."""
        async with self.database.reading() as connection:
            return await self._transitions.get(connection, intent_id)

    async def by_number(self, number: str) -> Order | None:
        """The order with this order number ("BK-7Q4M2X"), if the ledger has it."""
        async with self.database.reading() as connection:
            intent_id = await connection.scalar(
                select(orders.c.intent_id).where(orders.c.number == number)
            )
            if intent_id is None:
                return None
            return await self._transitions.get(connection, intent_id)

    async def recent(self, limit: int = 50) -> list[Order]:
        """The newest orders, paid ones (to ship) first."""
        to_ship_first = case((orders.c.status == PAID, 0), else_=1)
        query = (
            select(orders)
            .order_by(to_ship_first, orders.c.created_at.desc(), orders.c.intent_id)
            .limit(limit)
        )
        async with self.database.reading() as connection:
            rows = (await connection.execute(query)).all()
            lines = await self._transitions.lines_of(connection, [row.intent_id for row in rows])
        return [Order.from_row(row, lines.get(row.intent_id, ())) for row in rows]

    async def checkout_order(self, checkout_id: str) -> Order | None:
        """The newest order a browser session's checkout made, if the ledger has one."""
        query = (
            select(orders.c.intent_id)
            .where(orders.c.checkout_id == checkout_id)
            .order_by(orders.c.created_at.desc())
            .limit(1)
        )
        async with self.database.reading() as connection:
            intent_id = await connection.scalar(query)
            if intent_id is None:
                return None
            return await self._transitions.get(connection, intent_id)

    async def to_refund(self) -> list[str]:
        """The paid orders the shop must refund itself (their copies were gone), oldest first."""
        query = (
            select(orders.c.intent_id)
            .where(orders.c.status == PAID, orders.c.refund_reason.is_not(None))
            .order_by(orders.c.created_at)
        )
        async with self.database.reading() as connection:
            return list((await connection.execute(query)).scalars())

    async def event_seen(self, event_id: str) -> bool:
        """True once a webhook event id has been recorded."""
        return await self._events.seen(event_id)

    @counts_paid
    async def record_payment(self, intent: Intent) -> Change | None:
        """Write the pay step's answer: the intent the shop created (or updated) and confirmed in
        one call, with the order and the address it checked. These are the order's, whatever a
        webhook told the ledger first; then the status moves as Stripe says."""
        async with self.database.transaction() as connection:
            return await self._transitions.apply_state(connection, intent, shops=True)

    @counts_paid
    async def mark_paid(self, intent: Intent) -> bool:
        """The result page saw the payment succeed; True when this changed the order."""
        async with self.database.reading() as connection:
            status = (
                await connection.execute(
                    select(orders.c.status).where(orders.c.intent_id == intent.id)
                )
            ).scalar_one_or_none()
        if status is not None and status not in PAYABLE:
            # Already paid (or past it): statuses only move forward, so the write below would
            # change nothing. Polls of a paid result skip it and the write lock with it.
            return False
        async with self.database.transaction() as connection:
            await self._transitions.ensure(connection, intent)
            return await self._transitions.to_paid(connection, intent)

    @counts_paid
    async def apply_event(self, event: WebhookEvent) -> EventResult:
        """Record a verified webhook event once and apply it; a replay changes nothing.

        An event only a re-read of its intent can apply comes back `stale` and is not recorded:
        the caller re-reads and calls `apply_late`, so a re-read that fails can be retried.
        """
        return await self._events.apply(event)

    @counts_paid
    async def apply_late(self, event: WebhookEvent, state: Intent | None) -> EventResult:
        """Record a `stale` event with its intent as re-read since (None: Stripe has none)."""
        return await self._events.apply_late(event, state)

    @counts_paid
    async def apply_state(self, state: Intent) -> Change | None:
        """Bring the order in line with the intent as Stripe has it now (reconcile, re-reads):
        its status and, while it is payable, what it charges. A paid order that Stripe's intent
        disagrees with (another address, amount or lines) is flagged for review instead."""
        async with self.database.transaction() as connection:
            return await self._transitions.apply_state(connection, state)

    @counts_paid
    async def refunded(self, intent: Intent, refund: StaffRefund, audit: Audit) -> bool:
        """Record a refund staff made at Stripe (`intent` as Stripe has it after), as its
        charge.refunded event would, with the copies back on hand if asked and the audit entry,
        in one transaction; False, and nothing written, when its key was recorded before."""
        return await self._staff.refunded(intent, refund, audit)

    async def mark_shipped(
        self, intent_id: str, carrier: str, tracking_number: str | None, audit: Audit
    ) -> Order:
        """Mark a paid order shipped, once, with the audit entry in the same transaction; the
        order as shipped, or NotShippable saying why not."""
        return await self._staff.mark_shipped(intent_id, carrier, tracking_number, audit)


def ledger() -> Ledger:
    """The app's orders ledger."""
    return cast(Ledger, current_app.extensions["ledger"])
