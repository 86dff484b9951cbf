"""The ledger's transitions: each change to an order, a conditional update that only goes forward.

Every path that learns something about a payment (the checkout, the result page, webhooks, the
reconcile command) writes through these. A status only moves forward (open/failed -> paid ->
refunded, open/failed -> refunded when the payment went unheard, open/failed -> canceled), so each
path can run twice, late, or in any order, and the ledger ends the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from quart import current_app
from sqlalchemy import bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from bookshop.catalog.schema import books
from bookshop.database import Database
from bookshop.orders.batching import GroupWriter
from bookshop.orders.migrate import upgrade
from bookshop.orders.schema import (
    CANCELED,
    FAILED,
    OPEN,
    PAID,
    PAYABLE,
    REFUNDED,
    Order,
    OrderLine,
    address_columns,
    order_lines,
    orders,
    webhook_events,
)
from bookshop.payments import Intent, WebhookEvent


@dataclass(frozen=True)
class Change:
    """What one repair did to one order (printed by `reconcile`): the order before and after."""

    intent_id: str
    before: Order | None
    after: Order


@dataclass(frozen=True)
class EventResult:
    """How the ledger took a webhook event."""

    replay: bool
    # Only the intent as Stripe has it now can apply the event: re-read it, then `apply_late`.
    stale: bool = False
    change: Change | None = None  # what `apply_late`'s re-read changed


def _now() -> datetime:
    return datetime.now(UTC)


def _same(before: Order, after: Order) -> bool:
    # Equal but for the time of the last write.
    return before == replace(after, updated_at=before.updated_at)


def _charged(order: Order | Intent) -> tuple[Any, ...]:
    # What an order is for, as Stripe charged it: amount, lines, delivery and address.
    lines = [(line.book_id, line.quantity, line.unit_price) for line in order.lines]
    return (order.amount, lines, order.shipping, order.address)


def _line_rows(intent: Intent) -> list[dict[str, Any]]:
    # The title is not here: `_line_values` reads it from the catalog as the row is written.
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


def _line_values() -> list[Any]:
    # An order line's columns from a `_line_rows` row, with the title the catalog has at the time
    # of sale (a book that has left the catalog keeps its id as its title).
    values: dict[str, Any] = {
        column.name: bindparam(column.name, type_=column.type)
        for column in order_lines.columns
        if column.name != "title"
    }
    title = select(books.c.title).where(books.c.id == values["book_id"]).scalar_subquery()
    values["title"] = func.coalesce(title, values["book_id"])
    return [values[column.name] for column in order_lines.columns]


def _needs_re_read(event: WebhookEvent, known: Any) -> bool:
    # `known` is the order's (stripe_seen, status) row, None when the ledger lacks the order.
    if event.intent_id is None:
        return False
    if known is None:
        return event.intent is None  # a charge event: only the intent says what was bought
    if event.created < known.stripe_seen:
        return True  # older than what the ledger knows
    # A refund of an order the ledger still has as payable: its payment went unheard, so what
    # was paid (amount, lines) must come from the intent.
    return event.type == "charge.refunded" and known.status in PAYABLE


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


class Ledger:
    """The orders table behind one async engine: SQLite by default, PostgreSQL to scale out."""

    def __init__(self, database_url: str) -> None:
        self.database = Database(database_url)
        # Built once: building a statement and its cache key is a large share of a checkout's own
        # work (docs/performance.md, "The ledger's writes").
        self._upsert_order = self._checkout_upsert()
        self._write_lines, self._drop_lines = self._checkout_lines()
        self._insert_lines = insert(order_lines).from_select(
            [column.name for column in order_lines.columns], select(*_line_values())
        )
        self._checkouts = GroupWriter(self._write_checkouts)

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
        """Finish queued writes, then close every pooled connection."""
        await self._checkouts.drain()
        await self.database.close()

    async def get(self, intent_id: str) -> Order | None:
        """The order for a PaymentIntent, if the ledger has it."""
        async with self.database.reading() as connection:
            return await self._get(connection, intent_id)

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
            lines = await self._lines_of(connection, [row.intent_id for row in rows])
        return [Order.from_row(row, lines.get(row.intent_id, ())) for row in rows]

    async def event_seen(self, event_id: str) -> bool:
        """True once a webhook event id has been recorded."""
        async with self.database.reading() as connection:
            found = await connection.execute(
                select(webhook_events.c.id).where(webhook_events.c.id == event_id)
            )
            return found.first() is not None

    def _checkout_upsert(self) -> Any:
        # Typed like their columns, so PostgreSQL need not infer the type of each placeholder.
        amount = bindparam("new_amount", type_=orders.c.amount.type)
        email = bindparam("new_email", type_=orders.c.email.type)
        now = bindparam("now", type_=orders.c.updated_at.type)
        # The delivery: what it costs and each line of the address, as the intent says.
        delivery = {
            name: bindparam(f"new_{name}", type_=orders.c[name].type)
            for name in ("shipping", *address_columns(None))
        }
        return (
            self.database.insert(orders)
            .values(
                intent_id=bindparam("new_intent_id", type_=orders.c.intent_id.type),
                amount=amount,
                **delivery,
                currency=bindparam("new_currency", type_=orders.c.currency.type),
                email=email,
                status=OPEN,
                attempts=0,
                amount_refunded=0,
                stripe_seen=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=[orders.c.intent_id],
                set_={
                    "amount": amount,
                    "email": func.coalesce(email, orders.c.email),
                    "updated_at": now,
                    **delivery,
                },
                # A paid order is what was paid for: a stale page can't change it.
                where=or_(*(orders.c.status == status for status in PAYABLE)),
            )
        )

    def _checkout_lines(self) -> tuple[Any, Any]:
        # A checkout's lines change while its order is payable, and only then: each line is
        # written over its position, then the positions past the new last one are dropped, so
        # the order never shows no lines at all.
        def payable(intent_id: Any) -> Any:
            # Spelled out: an IN list is an expanding parameter, which executemany refuses.
            return exists(
                select(orders.c.intent_id).where(
                    orders.c.intent_id == intent_id,
                    or_(*(orders.c.status == status for status in PAYABLE)),
                )
            )

        values = _line_values()
        key = [order_lines.c.intent_id, order_lines.c.position]
        write = (
            self.database.insert(order_lines)
            .from_select(
                [column.name for column in order_lines.columns],
                select(*values).where(payable(values[0])),
            )
            .on_conflict_do_update(
                index_elements=key,
                set_={
                    name: getattr(self.database.insert(order_lines).excluded, name)
                    for name in ("book_id", "title", "unit_price", "quantity")
                },
            )
        )
        intent_id = bindparam("intent_id", type_=order_lines.c.intent_id.type)
        drop = delete(order_lines).where(
            order_lines.c.intent_id == intent_id,
            order_lines.c.position >= bindparam("count", type_=order_lines.c.position.type),
            payable(intent_id),
        )
        return write, drop

    async def record_checkout(self, intent: Intent) -> None:
        """Write what Stripe answered to a checkout's change of its intent (created, its books,
        where they go, the receipt address) while the order is payable."""
        order = {
            "new_intent_id": intent.id,
            "new_amount": intent.amount,
            "new_currency": intent.currency,
            "new_email": intent.email,
            "new_shipping": intent.shipping,
            **{f"new_{name}": value for name, value in address_columns(intent.address).items()},
            "now": _now(),
        }
        await self._checkouts.put({"order": order, "lines": _line_rows(intent)})

    async def _write_checkouts(self, checkouts: list[dict[str, Any]]) -> None:
        # Three statements for the whole batch, each run for every row (executemany). On SQLite
        # each commits by itself (no BEGIN, see database.py), so no shop process holds the write
        # lock while its event loop turns; a crash between them leaves lines that the next write,
        # or reconcile, puts right from Stripe. Only the newest write of each intent counts: the
        # positions an older one drops would cut the newer one's lines.
        checkouts = list({each["order"]["new_intent_id"]: each for each in checkouts}.values())
        async with self.database.one_statement() as connection:
            await connection.execute(self._upsert_order, [each["order"] for each in checkouts])
            lines = [row for each in checkouts for row in each["lines"]]
            if lines:
                await connection.execute(self._write_lines, lines)
            await connection.execute(
                self._drop_lines,
                [
                    {"intent_id": each["order"]["new_intent_id"], "count": len(each["lines"])}
                    for each in checkouts
                ],
            )

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
            await self._ensure(connection, intent)
            return await self._to_paid(connection, intent)

    async def apply_event(self, event: WebhookEvent) -> EventResult:
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
            if _needs_re_read(event, known):
                recorded = await connection.execute(
                    select(webhook_events.c.id).where(webhook_events.c.id == event.id)
                )
                replay = recorded.first() is not None
                return EventResult(replay=replay, stale=not replay)
            if not await self._record(connection, event):
                return EventResult(replay=True)
            if event.intent_id is None:
                return EventResult(replay=False)
            return await self._apply_event(connection, event, known is not None)

    async def apply_late(self, event: WebhookEvent, state: Intent | None) -> EventResult:
        """Record a `stale` event with its intent as re-read since (None: Stripe has none)."""
        async with self.database.transaction() as connection:
            if not await self._record(connection, event):
                return EventResult(replay=True)
            change = None if state is None else await self._apply_state(connection, state)
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
                await self._update(
                    connection, event.intent_id, orders.c.attempts < declines, attempts=declines
                )
            return EventResult(replay=False, change=change)

    async def _record(self, connection: AsyncConnection, event: WebhookEvent) -> bool:
        # False when the event id is already recorded (a replay).
        recorded = await connection.execute(
            self.database.insert(webhook_events)
            .values(id=event.id, type=event.type, intent_id=event.intent_id, received_at=_now())
            .on_conflict_do_nothing(index_elements=[webhook_events.c.id])
            .returning(webhook_events.c.id)
        )
        return recorded.first() is not None

    async def _apply_event(
        self, connection: AsyncConnection, event: WebhookEvent, known: bool
    ) -> EventResult:
        intent = event.intent
        intent_id = cast(str, event.intent_id)
        if intent is not None:
            if not intent.lines and not known:
                return EventResult(replay=False)  # not one of the shop's checkouts
            await self._ensure(connection, intent)
        await self._seen(connection, intent_id, event.created)
        if event.type == "payment_intent.succeeded" and intent is not None:
            await self._to_paid(connection, intent)
        elif event.type == "payment_intent.payment_failed" and intent is not None:
            await self._attempt_failed(connection, intent_id, intent.decline_code)
        elif event.type == "payment_intent.canceled":
            await self._to_canceled(connection, intent_id)
        elif event.type == "charge.refunded":
            await self._refund(connection, intent_id, event.charge_id, event.amount_refunded)
            if event.refunded:
                await self._to_refunded(connection, intent_id, event.charge_id)
        return EventResult(replay=False)

    async def apply_state(self, state: Intent) -> Change | None:
        """Bring the order in line with the intent as Stripe has it now (reconcile, re-reads)."""
        async with self.database.transaction() as connection:
            return await self._apply_state(connection, state)

    async def _apply_state(self, connection: AsyncConnection, state: Intent) -> Change | None:
        target = target_status(state)
        before = await self._get(connection, state.id)
        if before is None and not state.lines:
            return None  # not one of the shop's checkouts
        if before is None:
            await self._ensure(connection, state)
        await self._seen(connection, state.id, int(time.time()))
        # Stripe's amount and lines are what was (or will be) charged: a paid order too takes
        # them from the intent that was paid. Only a payable intent (a stale read of an order
        # the ledger knows is past that) leaves a settled order alone.
        if (
            before is not None
            and state.lines
            and (target not in PAYABLE or before.status in PAYABLE)
            and _charged(before) != _charged(state)
        ):
            await self._take_charged(connection, state)
        if target == FAILED:
            await self._failed_since(connection, state.id, state.decline_code)
        elif target in (PAID, REFUNDED):
            await self._to_paid(connection, state)
            if state.charge is not None and state.charge.amount_refunded:
                await self._refund(
                    connection, state.id, state.charge_id, state.charge.amount_refunded
                )
            if target == REFUNDED:
                await self._to_refunded(connection, state.id, state.charge_id)
        elif target == CANCELED:
            await self._to_canceled(connection, state.id)
        after = await self._get(connection, state.id)
        assert after is not None
        if before is not None and _same(before, after):
            return None
        return Change(intent_id=state.id, before=before, after=after)

    async def _get(self, connection: AsyncConnection, intent_id: str) -> Order | None:
        row = (
            await connection.execute(select(orders).where(orders.c.intent_id == intent_id))
        ).first()
        if row is None:
            return None
        lines = await self._lines_of(connection, [intent_id])
        return Order.from_row(row, lines.get(intent_id, ()))

    async def _lines_of(
        self, connection: AsyncConnection, intent_ids: list[str]
    ) -> dict[str, tuple[OrderLine, ...]]:
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

    async def _replace_lines(self, connection: AsyncConnection, intent: Intent) -> None:
        await connection.execute(delete(order_lines).where(order_lines.c.intent_id == intent.id))
        if intent.lines:
            await connection.execute(self._insert_lines, _line_rows(intent))

    async def _ensure(self, connection: AsyncConnection, intent: Intent) -> None:
        # An order the ledger missed (webhook before the checkout's write, another process, a
        # crash): create it open, then let the conditional updates move it on. It dates from
        # when the shopper started paying, not from when the ledger heard of it.
        now = _now()
        since = datetime.fromtimestamp(intent.created, UTC) if intent.created > 0 else now
        created = await connection.execute(
            self.database.insert(orders)
            .values(
                intent_id=intent.id,
                amount=intent.amount,
                shipping=intent.shipping,
                **address_columns(intent.address),
                currency=intent.currency,
                email=intent.email,
                status=OPEN,
                attempts=0,
                amount_refunded=0,
                stripe_seen=0,
                created_at=since,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[orders.c.intent_id])
            .returning(orders.c.intent_id)
        )
        if created.first() is not None:
            await self._replace_lines(connection, intent)

    async def _update(
        self,
        connection: AsyncConnection,
        intent_id: str,
        allowed: ColumnElement[bool],
        **values: Any,
    ) -> bool:
        result = await connection.execute(
            update(orders)
            .where(orders.c.intent_id == intent_id, allowed)
            .values(updated_at=_now(), **values)
            .returning(orders.c.intent_id)
        )
        return result.first() is not None

    async def _seen(self, connection: AsyncConnection, intent_id: str, created: int) -> None:
        await connection.execute(
            update(orders)
            .where(orders.c.intent_id == intent_id, orders.c.stripe_seen < created)
            .values(stripe_seen=created)
        )

    async def _to_paid(self, connection: AsyncConnection, intent: Intent) -> bool:
        # What was paid for is the paid intent's amount and lines, not the ledger's last word.
        paid = await self._update(
            connection,
            intent.id,
            orders.c.status.in_(PAYABLE),
            status=PAID,
            charge_id=func.coalesce(intent.charge_id, orders.c.charge_id),
            email=func.coalesce(intent.email, orders.c.email),
        )
        if paid:
            await self._take_charged(connection, intent)
        return paid

    async def _take_charged(self, connection: AsyncConnection, intent: Intent) -> None:
        # What the intent charges: its amount, its delivery and (when it says) its lines.
        await connection.execute(
            update(orders)
            .where(orders.c.intent_id == intent.id)
            .values(
                amount=intent.amount,
                shipping=intent.shipping,
                **address_columns(intent.address),
                updated_at=_now(),
            )
        )
        if intent.lines:
            await self._replace_lines(connection, intent)

    async def _attempt_failed(
        self, connection: AsyncConnection, intent_id: str, decline_code: str | None
    ) -> bool:
        # Every failed attempt counts (the event id is recorded once), but only an order the
        # shopper can still pay becomes `failed`: a late decline never un-pays an order.
        return await self._update(
            connection,
            intent_id,
            orders.c.status.in_((*PAYABLE, PAID)),
            attempts=orders.c.attempts + 1,
            decline_code=func.coalesce(decline_code, orders.c.decline_code),
            status=case((orders.c.status.in_(PAYABLE), FAILED), else_=orders.c.status),
        )

    async def _failed_since(
        self, connection: AsyncConnection, intent_id: str, decline_code: str | None
    ) -> bool:
        # Reconcile sees only the latest decline, not how many there were: at least one.
        return await self._update(
            connection,
            intent_id,
            (orders.c.status == OPEN)
            | ((orders.c.status == FAILED) & orders.c.decline_code.is_distinct_from(decline_code)),
            status=FAILED,
            decline_code=decline_code,
            attempts=case((orders.c.attempts < 1, 1), else_=orders.c.attempts),
        )

    async def _to_canceled(self, connection: AsyncConnection, intent_id: str) -> bool:
        return await self._update(
            connection, intent_id, orders.c.status.in_(PAYABLE), status=CANCELED
        )

    async def _refund(
        self, connection: AsyncConnection, intent_id: str, charge_id: str | None, amount: int
    ) -> bool:
        # Refunded amounts only grow, so a late partial-refund event can't shrink a later one.
        return await self._update(
            connection,
            intent_id,
            orders.c.amount_refunded < amount,
            amount_refunded=amount,
            charge_id=func.coalesce(orders.c.charge_id, charge_id),
        )

    async def _to_refunded(
        self, connection: AsyncConnection, intent_id: str, charge_id: str | None
    ) -> bool:
        return await self._update(
            connection,
            intent_id,
            orders.c.status.in_((*PAYABLE, PAID)),
            status=REFUNDED,
            charge_id=func.coalesce(orders.c.charge_id, charge_id),
        )


def ledger() -> Ledger:
    """The app's orders ledger."""
    return cast(Ledger, current_app.extensions["ledger"])
