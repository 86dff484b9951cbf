"""What staff do to an order, on the ledger's side: each change written with its stock moves and
its audit entry in one transaction, so none is ever without the others.

The audit log is the back office's (`bookshop.admin.audit`), and the back office imports the
ledger: so each action takes the entry's writer from its caller, bound to who acts.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.database import Database
from bookshop.mail import outbox
from bookshop.orders.schema import PAID, REFUNDED, Order, orders
from bookshop.orders.transitions import Transitions, now
from bookshop.payments import Intent
from bookshop.stock import Stock

# Why an order can't be marked shipped; the back office answers each with its own status.
UNKNOWN, SHIPPED, NOT_PAID, TO_REVIEW, TO_REFUND = (
    "unknown",
    "shipped",
    "not paid",
    "to review",
    "to refund",
)


class Audit(Protocol):
    """Writes one audit log entry in the caller's transaction, as the staff member acting
    (`bookshop.admin.audit.record` with its database and actor bound); False when an entry with
    `key` is there already."""

    def __call__(
        self,
        *,
        connection: AsyncConnection,
        action: str,
        subject: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Awaitable[bool]: ...


@dataclass(frozen=True)
class RefundedCopies:
    """Copies of one of an order's books whose money a refund gives back."""

    book_id: str
    title: str
    copies: int


@dataclass(frozen=True)
class StaffRefund:
    """A refund staff made at Stripe, as the ledger records it."""

    # The confirmation's one-time token: a second submit of it finds the refund recorded.
    key: str
    amount: int
    reason: str
    lines: tuple[RefundedCopies, ...] = ()
    delivery: bool = False  # the delivery's cost is part of `amount`
    restock: bool = False  # the lines' copies go back on hand


class NotShippable(Exception):
    """An order that must not be marked shipped: `why` (UNKNOWN, SHIPPED, ...) and a message
    for staff."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why
        self.message = message


def subject(intent_id: str) -> str:
    """An order's subject in the audit log."""
    return f"order {intent_id}"


class StaffActions:
    """Staff's changes to orders, each in one transaction with its audit entry."""

    def __init__(self, database: Database, transitions: Transitions, stock: Stock) -> None:
        self.database = database
        self.transitions = transitions
        self.stock = stock

    async def refunded(self, intent: Intent, refund: StaffRefund, audit: Audit) -> bool:
        """Record a refund staff made at Stripe (`intent` as Stripe has it after): the order
        moved as Stripe's charge.refunded moves it, the copies back on hand when asked, and
        the audit entry, once per key. False, and nothing written, when the key was recorded
        before (the same confirmation submitted again)."""
        async with self.database.transaction() as connection:
            # The order's row first, as every path takes it; then the audit entry's key.
            before = await self.transitions.get(connection, intent.id, lock=True)
            first = await audit(
                connection=connection,
                action="refunded",
                subject=subject(intent.id),
                before=_refund_state(before),
                after=_refund_entry(intent, refund),
                key=refund.key,
            )
            if not first:
                return False
            await self.transitions.apply_state(connection, intent)
            if refund.restock and refund.lines:
                copies = [(line.book_id, line.copies) for line in refund.lines]
                await self.stock.returned_in(connection, intent.id, copies)
        return True

    async def mark_shipped(
        self, intent_id: str, carrier: str, tracking_number: str | None, audit: Audit
    ) -> Order:
        """The one place an order is marked shipped: a paid order with nothing for staff to look
        at first and not shipped yet, once however many press at once, with its audit entry.
        The order as shipped; NotShippable says why not."""
        shippable = (
            (orders.c.status == PAID)
            & orders.c.review.is_(None)
            & orders.c.refund_reason.is_(None)
            & orders.c.shipped_at.is_(None)
        )
        async with self.database.transaction() as connection:
            marked = await self.transitions.update(
                connection,
                intent_id,
                shippable,
                shipped_at=now(),
                carrier=carrier,
                tracking_number=tracking_number,
            )
            order = await self.transitions.get(connection, intent_id)
            if order is None:
                raise NotShippable(UNKNOWN, "There is no such order.")
            if not marked:
                raise _not_shippable(order)
            await outbox.enqueue(connection, self.database, outbox.SHIPPED, intent_id, order.email)
            await audit(
                connection=connection,
                action="marked shipped",
                subject=subject(intent_id),
                before={"shipped_at": None},
                after={
                    "shipped_at": order.shipped_at,
                    "carrier": carrier,
                    "tracking_number": tracking_number,
                },
            )
        return order


def _not_shippable(order: Order) -> NotShippable:
    # Why the conditional update left the order as it was.
    if order.shipped_at is not None:
        return NotShippable(
            SHIPPED, f"This order was marked shipped already, on {order.shipped_at:%d %b %Y}."
        )
    if order.status == REFUNDED:
        return NotShippable(NOT_PAID, "This order was refunded in full: there is nothing to ship.")
    if order.status != PAID:
        return NotShippable(NOT_PAID, "This order is not paid: don't ship it.")
    if order.refund_reason is not None:
        return NotShippable(
            TO_REFUND,
            f"Don't ship this order: it is to be refunded ({order.refund_reason}).",
        )
    return NotShippable(TO_REVIEW, f"Look at the review first: {order.review}.")


def _refund_state(order: Order | None) -> dict[str, Any] | None:
    if order is None:
        return None
    return {"status": order.status, "amount_refunded": order.amount_refunded}


def _refund_entry(intent: Intent, refund: StaffRefund) -> dict[str, Any]:
    # What the audit log keeps of a refund: what was asked for, and what Stripe says now.
    charge = intent.charge
    made = None
    if charge is not None:
        # The charge's refunds, newest first: this one is the newest of its amount and reason.
        made = next(
            (
                found.id
                for found in charge.refunds
                if found.amount == refund.amount and found.reason == refund.reason
            ),
            None,
        )
    return {
        "amount": refund.amount,
        "currency": intent.currency,
        "lines": [
            {"book_id": line.book_id, "title": line.title, "copies": line.copies}
            for line in refund.lines
        ],
        "delivery": refund.delivery,
        "restocked": refund.restock and bool(refund.lines),
        "reason": refund.reason,
        "refund": made,
        "amount_refunded": charge.amount_refunded if charge is not None else None,
    }
