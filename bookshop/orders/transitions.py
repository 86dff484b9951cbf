"""The ledger's transitions: each change to an order, a conditional update that only goes forward.

Every path that learns something about a payment (the pay step, the result page, webhooks, the
reconcile command) writes through these. A status only moves forward (open/failed -> paid ->
refunded, open/failed -> refunded when the payment went unheard, open/failed -> canceled), so each
path can run twice, late, or in any order, and the ledger ends the same.

Where an order goes is the shop's: the address it checked, written by the pay step, which creates
and confirms the intent with it. A read of Stripe's intent (a webhook, a re-read, the result page,
reconcile) never changes it. While the order is payable a read only takes what the intent
charges (amount, lines, delivery); the payment takes them from the intent that was paid. Once
paid, an intent that ships elsewhere, or (re-read later) charges another amount or other lines,
flags the order for review instead: staff look before shipping.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from bookshop.catalog.schema import books
from bookshop.database import Database
from bookshop.mail import outbox
from bookshop.orders.numbers import new_number
from bookshop.orders.paid_count import made_paid
from bookshop.orders.schema import (
    CANCELED,
    FAILED,
    OPEN,
    OUT_OF_STOCK,
    PAID,
    PAYABLE,
    REFUNDED,
    SETTLED,
    Order,
    OrderLine,
    address_columns,
    order_lines,
    orders,
)
from bookshop.payments import Intent
from bookshop.stock import Stock

log = logging.getLogger(__name__)

# Why an order is flagged for review; an order flagged for both holds both, "; " between.
ADDRESS_CHANGED = "address changed at Stripe"
CHARGE_CHANGED = "amount or lines changed at Stripe"
# What Stripe says of an intent the shop's own call just confirmed (and paid, or is paying).
CONFIRMED = ("succeeded", "processing")
# Draws of a new order number before giving up: with a million orders among 729 million numbers,
# eight taken draws in a row come once in 10^23 orders.
NUMBER_DRAWS = 8


@dataclass(frozen=True)
class Change:
    """What one repair did to one order (printed by `reconcile`): the order before and after,
    and the intent as Stripe had it."""

    intent_id: str
    before: Order | None
    after: Order
    stripe: Intent | None = None


def now() -> datetime:
    """The time a write is stamped with."""
    return datetime.now(UTC)


def same(before: Order, after: Order) -> bool:
    """True when two readings of an order are equal but for the time of the last write."""
    return before == replace(after, updated_at=before.updated_at)


def charged(order: Order | Intent) -> tuple[Any, ...]:
    """What an order is for, as Stripe charges it: amount, lines and delivery (not where)."""
    lines = [(line.book_id, line.quantity, line.unit_price) for line in order.lines]
    return (order.amount, lines, order.shipping)


def reasons(review: str | None) -> list[str]:
    """The reasons an order's `review` holds."""
    return review.split("; ") if review else []


def line_rows(intent: Intent) -> list[dict[str, Any]]:
    """An intent's lines as `order_lines` rows, without their titles (see `line_values`)."""
    return [
        {
            "intent_id": intent.id,
            "position": position,
            "book_id": line.book_id,
            "unit_price": line.unit_price,
            "quantity": line.quantity,
        }
        for position, line in enumerate(intent.lines)
    ]


def line_values() -> list[Any]:
    """An order line's columns from a `line_rows` row, with the title the catalog has at the
    time of sale (a book that has left the catalog keeps its id as its title)."""
    values: dict[str, Any] = {
        column.name: bindparam(column.name, type_=column.type)
        for column in order_lines.columns
        if column.name != "title"
    }
    title = select(books.c.title).where(books.c.id == values["book_id"]).scalar_subquery()
    values["title"] = func.coalesce(title, values["book_id"])
    return [values[column.name] for column in order_lines.columns]


def target_status(state: Intent) -> str:
    """The ledger status a PaymentIntent's current state means."""
    if state.status == "succeeded":
        # Refunds are known only from an expanded charge (a fresh read), never from an event.
        return REFUNDED if state.charge is not None and state.charge.refunded else PAID
    if state.status == "canceled":
        return CANCELED
    if state.status == "requires_payment_method" and state.decline_code:
        return FAILED
    return OPEN


class Transitions:
    """The conditional updates of one order, each run inside its caller's transaction."""

    def __init__(self, database: Database, stock: Stock) -> None:
        self.database = database
        self.stock = stock
        self._insert_lines = insert(order_lines).from_select(
            [column.name for column in order_lines.columns], select(*line_values())
        )

    async def get(
        self, connection: AsyncConnection, intent_id: str, *, lock: bool = False
    ) -> Order | None:
        """The order, with its lines; `lock`: its row stays this transaction's until it ends
        (PostgreSQL; SQLite's transactions hold the whole database already)."""
        query = select(orders).where(orders.c.intent_id == intent_id)
        row = (await connection.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            return None
        lines = await self.lines_of(connection, [intent_id])
        return Order.from_row(row, lines.get(intent_id, ()))

    async def lines_of(
        self, connection: AsyncConnection, intent_ids: list[str]
    ) -> dict[str, tuple[OrderLine, ...]]:
        """The lines of each of these orders, in order."""
        if not intent_ids:
            return {}
        rows = await connection.execute(
            select(order_lines)
            .where(order_lines.c.intent_id.in_(intent_ids))
            .order_by(order_lines.c.intent_id, order_lines.c.position)
        )
        found: dict[str, list[OrderLine]] = {}
        for row in rows:
            found.setdefault(row.intent_id, []).append(
                OrderLine(row.book_id, row.title, row.unit_price, row.quantity)
            )
        return {intent_id: tuple(lines) for intent_id, lines in found.items()}

    async def apply_state(
        self, connection: AsyncConnection, state: Intent, *, shops: bool = False
    ) -> Change | None:
        """Bring the order in line with the intent as Stripe has it now; `shops`: the intent is
        Stripe's answer to the shop's own call, which sent what the shop checked."""
        target = target_status(state)
        before = await self.get(connection, state.id, lock=True)
        if before is None and not state.lines:
            return None  # not one of the shop's checkouts
        if before is None:
            await self.ensure(connection, state)
        elif shops:
            await self._take_shops(connection, before, state)
        elif before.status in PAYABLE and state.lines and charged(before) != charged(state):
            # Stripe's amount and lines are what will be charged. A settled order keeps its own
            # (`to_paid` flags a difference), as every order keeps its address.
            await self.take_charged(connection, state)
        own_decline = shops and target == FAILED
        if not own_decline:
            await self.seen(connection, state.id, int(time.time()))
        if own_decline:
            # The pay step's own decline: its payment_failed event (made in the same second, so
            # it must not look stale beside this write) counts the attempt.
            await self.declined(connection, state.id, state.decline_code)
        elif target == FAILED:
            await self.failed_since(connection, state.id, state.decline_code)
        elif target in SETTLED:
            await self.to_paid(connection, state)
            if state.charge is not None and state.charge.amount_refunded:
                await self.refund(
                    connection, state.id, state.charge_id, state.charge.amount_refunded
                )
            if target == REFUNDED:
                await self.to_refunded(connection, state.id, state.charge_id)
        elif target == CANCELED:
            await self.to_canceled(connection, state.id)
        after = await self.get(connection, state.id)
        assert after is not None
        if before is not None and same(before, after):
            return None
        return Change(intent_id=state.id, before=before, after=after, stripe=state)

    async def _take_shops(self, connection: AsyncConnection, before: Order, state: Intent) -> None:
        # The pay step's answer: what the shop checked and sent, as Stripe took it.
        if before.status in PAYABLE:
            await self.take_charged(connection, state)
            await connection.execute(
                update(orders)
                .where(orders.c.intent_id == state.id)
                .values(
                    **address_columns(state.address),
                    email=func.coalesce(state.email, orders.c.email),
                )
            )
        elif (
            before.status in SETTLED
            and state.status in CONFIRMED
            and before.address != state.address
        ):
            # Stripe's webhook beat the shop's own write of the payment and found the address
            # of an earlier attempt in the ledger: this answer is the payment itself, made with
            # the address the shop checked, so it is the order's and there is nothing to review.
            kept = [reason for reason in reasons(before.review) if reason != ADDRESS_CHANGED]
            await connection.execute(
                update(orders)
                .where(orders.c.intent_id == state.id)
                .values(
                    **address_columns(state.address),
                    review="; ".join(kept) or None,
                    updated_at=now(),
                )
            )

    async def ensure(self, connection: AsyncConnection, intent: Intent) -> None:
        """Create an order the ledger missed (a webhook before the pay step's write, another
        process, a crash) open, from the intent, with a new order number; the conditional updates
        then move it on. It dates from when the shopper started paying, not from when the ledger
        heard of it."""
        stamp = now()
        since = datetime.fromtimestamp(intent.created, UTC) if intent.created > 0 else stamp
        values = {
            "intent_id": intent.id,
            "checkout_id": intent.checkout_id or None,
            "amount": intent.amount,
            "shipping": intent.shipping,
            **address_columns(intent.address),
            "currency": intent.currency,
            "email": intent.email,
            "status": OPEN,
            "attempts": 0,
            "amount_refunded": 0,
            "stripe_seen": 0,
            "created_at": since,
            "updated_at": stamp,
        }
        for _ in range(NUMBER_DRAWS):
            # DO NOTHING on any unique conflict, the order's own (it exists: nothing to do) or its
            # number's (taken: draw again). No error is raised, so the caller's transaction goes
            # on (a failed statement would abort it on PostgreSQL), and no savepoint is needed.
            created = await connection.execute(
                self.database.insert(orders)
                .values(number=new_number(), **values)
                .on_conflict_do_nothing()
                .returning(orders.c.intent_id)
            )
            if created.first() is not None:
                await self._replace_lines(connection, intent)
                return
            exists = select(orders.c.intent_id).where(orders.c.intent_id == intent.id)
            if await connection.scalar(exists) is not None:
                return
            log.info("order number taken, drawing another for %s", intent.id)
        raise RuntimeError(f"no free order number in {NUMBER_DRAWS} draws for {intent.id}")

    async def update(
        self,
        connection: AsyncConnection,
        intent_id: str,
        allowed: ColumnElement[bool],
        **values: Any,
    ) -> bool:
        """Change the order if `allowed` holds; True when it did."""
        result = await connection.execute(
            update(orders)
            .where(orders.c.intent_id == intent_id, allowed)
            .values(updated_at=now(), **values)
            .returning(orders.c.intent_id)
        )
        return result.first() is not None

    async def seen(self, connection: AsyncConnection, intent_id: str, created: int) -> None:
        """Stripe's word on the order as of `created` (Unix time) is in the ledger."""
        await connection.execute(
            update(orders)
            .where(orders.c.intent_id == intent_id, orders.c.stripe_seen < created)
            .values(stripe_seen=created)
        )

    async def to_paid(self, connection: AsyncConnection, intent: Intent) -> bool:
        """The intent succeeded: a payable order becomes paid, for what the intent charged; a
        paid one that it disagrees with is flagged. True when the order became paid (the one
        place an order does: counted by `counts_paid` once the write has committed)."""
        paid = await self.update(
            connection,
            intent.id,
            orders.c.status.in_(PAYABLE),
            status=PAID,
            paid_at=now(),
            charge_id=func.coalesce(intent.charge_id, orders.c.charge_id),
            email=func.coalesce(intent.email, orders.c.email),
        )
        if paid:
            made_paid(intent.id)
        # Read once the row is this transaction's: the update above took it, or the lock does.
        order = await self.get(connection, intent.id, lock=not paid)
        if order is None:
            return paid
        found = []
        if order.address != intent.address:
            found.append(ADDRESS_CHANGED)
        if paid:
            # What was paid for is the paid intent's amount and lines, not the ledger's last word.
            await self.take_charged(connection, intent)
            await self._sell(connection, order.checkout_id, intent.id)
            # In this transaction: paid once, confirmed once, whichever path paid it.
            await outbox.enqueue(
                connection, self.database, outbox.CONFIRMATION, intent.id, order.email
            )
        elif order.status in SETTLED and (
            order.amount != intent.amount or (intent.lines and charged(order) != charged(intent))
        ):
            found.append(CHARGE_CHANGED)
        if order.status in SETTLED:
            await self._flag(connection, order, found)
        return paid

    async def _sell(
        self, connection: AsyncConnection, checkout_id: str | None, intent_id: str
    ) -> None:
        # Once per order, as it becomes paid: its copies leave the shop, or (gone meanwhile, its
        # reservation lapsed) the order is to be refunded.
        lines = (await self.lines_of(connection, [intent_id])).get(intent_id, ())
        wanted = [(line.book_id, line.quantity) for line in lines]
        if not await self.stock.sell(connection, checkout_id, intent_id, wanted):
            await connection.execute(
                update(orders)
                .where(orders.c.intent_id == intent_id)
                .values(refund_reason=OUT_OF_STOCK, updated_at=now())
            )
            log.warning("order %s paid for copies that are gone: to be refunded", intent_id)

    async def take_charged(self, connection: AsyncConnection, intent: Intent) -> None:
        """Take what the intent charges: its amount, its delivery and (when it says) its lines;
        never where the order goes."""
        await connection.execute(
            update(orders)
            .where(orders.c.intent_id == intent.id)
            .values(amount=intent.amount, shipping=intent.shipping, updated_at=now())
        )
        if intent.lines:
            await self._replace_lines(connection, intent)

    async def _flag(self, connection: AsyncConnection, order: Order, found: list[str]) -> None:
        # Reasons only accumulate: a flag stays for staff to see.
        known = reasons(order.review)
        new = [reason for reason in found if reason not in known]
        if not new:
            return
        review = "; ".join([*known, *new])
        await connection.execute(
            update(orders)
            .where(orders.c.intent_id == order.intent_id)
            .values(review=review, updated_at=now())
        )
        log.warning("order %s flagged for review: %s", order.intent_id, review)

    async def _replace_lines(self, connection: AsyncConnection, intent: Intent) -> None:
        await connection.execute(delete(order_lines).where(order_lines.c.intent_id == intent.id))
        if intent.lines:
            await connection.execute(self._insert_lines, line_rows(intent))

    async def attempt_failed(
        self, connection: AsyncConnection, intent_id: str, decline_code: str | None
    ) -> bool:
        """Count a failed attempt (once per event id). Only an order the shopper can still pay
        becomes `failed`: a late decline never un-pays an order."""
        return await self.update(
            connection,
            intent_id,
            orders.c.status.in_((*PAYABLE, PAID)),
            attempts=orders.c.attempts + 1,
            decline_code=func.coalesce(decline_code, orders.c.decline_code),
            status=case((orders.c.status.in_(PAYABLE), FAILED), else_=orders.c.status),
        )

    async def declined(
        self, connection: AsyncConnection, intent_id: str, decline_code: str | None
    ) -> bool:
        """The shop's own attempt was declined: a payable order is `failed`, with the code (the
        attempt is counted by its event), and the copies held for it go back on sale."""
        # The order's row first, as every path locks it: then the stock's (no deadlock).
        failed = await self.update(
            connection,
            intent_id,
            orders.c.status.in_(PAYABLE),
            status=FAILED,
            decline_code=decline_code,
        )
        await self.stock.release_in(connection, intent_id)
        return failed

    async def failed_since(
        self, connection: AsyncConnection, intent_id: str, decline_code: str | None
    ) -> bool:
        """The intent's last attempt failed. A read sees only the latest decline, not how many
        there were: at least one."""
        return await self.update(
            connection,
            intent_id,
            (orders.c.status == OPEN)
            | ((orders.c.status == FAILED) & orders.c.decline_code.is_distinct_from(decline_code)),
            status=FAILED,
            decline_code=decline_code,
            attempts=case((orders.c.attempts < 1, 1), else_=orders.c.attempts),
        )

    async def to_canceled(self, connection: AsyncConnection, intent_id: str) -> bool:
        """The intent was canceled: a payable order is too, and its held copies go back."""
        canceled = await self.update(
            connection, intent_id, orders.c.status.in_(PAYABLE), status=CANCELED
        )
        await self.stock.release_in(connection, intent_id)  # after the order's row, as above
        return canceled

    async def refund(
        self, connection: AsyncConnection, intent_id: str, charge_id: str | None, amount: int
    ) -> bool:
        """Record how much was refunded: the amount only grows, so a late partial-refund event
        can't shrink a later one. Each growth writes a refund notice (one per amount in all)."""
        # Under the row's lock, so the notice says what this refund gave back.
        query = select(orders.c.amount_refunded, orders.c.email).where(
            orders.c.intent_id == intent_id
        )
        before = (await connection.execute(query.with_for_update())).first()
        grown = await self.update(
            connection,
            intent_id,
            orders.c.amount_refunded < amount,
            amount_refunded=amount,
            charge_id=func.coalesce(orders.c.charge_id, charge_id),
        )
        if grown and before is not None:
            refunded = amount - before.amount_refunded
            await outbox.enqueue(
                connection,
                self.database,
                outbox.REFUNDED,
                intent_id,
                before.email,
                refunded=refunded,
                amount_refunded=amount,
            )
        return grown

    async def to_refunded(
        self, connection: AsyncConnection, intent_id: str, charge_id: str | None
    ) -> bool:
        """The whole payment was refunded."""
        return await self.update(
            connection,
            intent_id,
            orders.c.status.in_((*PAYABLE, PAID)),
            status=REFUNDED,
            paid_at=func.coalesce(orders.c.paid_at, now()),
            charge_id=func.coalesce(orders.c.charge_id, charge_id),
        )
