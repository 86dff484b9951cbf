"""The orders ledger: the shop's own record of every payment, kept true by idempotent updates.

Every path that learns something about a payment (the checkout, the result page, webhooks, the
reconcile command) writes through the same conditional updates. A status only moves forward
(open/failed -> paid -> refunded, open/failed -> canceled), so each path can run twice, late, or in
any order, and the ledger ends the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from quart import current_app
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from bookshop.config import normalise_database_url
from bookshop.payments import Intent, WebhookEvent

log = logging.getLogger(__name__)

OPEN, PAID, FAILED, CANCELED, REFUNDED = "open", "paid", "failed", "canceled", "refunded"
STATUSES = (OPEN, PAID, FAILED, CANCELED, REFUNDED)
# The statuses a shopper can still pay from: a checkout may change these orders' quantity.
PAYABLE = (OPEN, FAILED)
# Arbitrary but fixed: serialises schema migrations across shop processes on one PostgreSQL.
MIGRATION_LOCK_KEY = 0x626F6F6B73686F70
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option naming a transaction that only reads.
READ_ONLY = "bookshop_read_only"
# Execution option naming a transaction of one statement, which SQLite runs atomically by itself.
ONE_STATEMENT = "bookshop_one_statement"

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("intent_id", String(255), primary_key=True),
    Column("book_id", String(255), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("email", String(254)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("decline_code", String(255)),
    Column("charge_id", String(255)),
    Column("amount_refunded", BigInteger, nullable=False),
    Column("stripe_seen", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(255), nullable=False),
    Column("intent_id", String(255)),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _create_v1(connection: Connection) -> None:
    # A frozen copy of the first schema: later changes are new steps (ALTER ...), never edits here,
    # so a fresh database and an upgraded one end up alike.
    v1 = MetaData()
    Table(
        "orders",
        v1,
        Column("intent_id", String(255), primary_key=True),
        Column("book_id", String(255), nullable=False),
        Column("quantity", Integer, nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("email", String(254)),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("decline_code", String(255)),
        Column("charge_id", String(255)),
        Column("amount_refunded", BigInteger, nullable=False),
        Column("stripe_seen", BigInteger, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "webhook_events",
        v1,
        Column("id", String(255), primary_key=True),
        Column("type", String(255), nullable=False),
        Column("intent_id", String(255)),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    v1.create_all(connection)
    connection.execute(text("CREATE INDEX orders_by_status ON orders (status, created_at)"))


# Applied in order, each once per database; the list index + 1 is the schema version.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_create_v1,)


@dataclass(frozen=True)
class Order:
    """One checkout's payment as the shop records it."""

    intent_id: str
    book_id: str
    quantity: int
    amount: int
    currency: str
    email: str | None
    status: str
    attempts: int
    decline_code: str | None
    charge_id: str | None
    amount_refunded: int
    created_at: datetime
    updated_at: datetime


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
    # The event was older than what the ledger knows: re-read the intent (off the request path).
    stale: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the ledger only ever writes UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _order(row: Any) -> Order:
    return Order(
        intent_id=row.intent_id,
        book_id=row.book_id,
        quantity=row.quantity,
        amount=row.amount,
        currency=row.currency,
        email=row.email,
        status=row.status,
        attempts=row.attempts,
        decline_code=row.decline_code,
        charge_id=row.charge_id,
        amount_refunded=row.amount_refunded,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _same(before: Order, after: Order) -> bool:
    # Equal but for the time of the last write.
    return before == replace(after, updated_at=before.updated_at)


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


class GroupWriter:
    """Rows written together: each caller queues its row and waits until the write carrying it
    has committed (or failed, which it then raises).

    A write costs the same handful of hops to the database thread whatever its size (about 1 ms
    of CPU), so under load the checkouts queued while one write runs go out in the next, together.
    With no load a row goes out alone, at once.
    """

    def __init__(self, write: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> None:
        self._write = write
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def put(self, row: dict[str, Any]) -> None:
        """Write the row with the next batch; returns once it is committed."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((row, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_queued())
        # The write runs in its own task: a shopper who leaves cancels only their own wait.
        await done

    async def drain(self) -> None:
        """Wait for the rows already queued."""
        if self._writing is not None:
            await self._writing

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._write([row for row, _ in batch])
            except Exception as error:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
            except BaseException:
                # Cancelled (the server is stopping): no caller may wait for a write that won't
                # come, the rows queued meanwhile included.
                for _, done in (*batch, *self._queue):
                    done.cancel()
                self._queue = []
                raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


class Ledger:
    """The orders table behind one async engine: SQLite by default, PostgreSQL to scale out."""

    def __init__(self, database_url: str) -> None:
        self.url = normalise_database_url(database_url)
        self.dialect = make_url(self.url).get_backend_name()
        self._engine: AsyncEngine | None = None
        # Built once: constructing this upsert and its cache key was ~17% of a checkout's CPU.
        self._record_checkout = self._checkout_upsert()
        self._checkouts = GroupWriter(self._write_checkouts)

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (after `open()`)."""
        if self._engine is None:
            raise RuntimeError("the ledger is not open: call Ledger.open() first")
        return self._engine

    async def open(self) -> None:
        """Connect (creating the SQLite file's folder) and bring the schema up to date."""
        if self._engine is not None:
            return
        if self.dialect == "sqlite":
            self._engine = self._sqlite_engine()
            await self._use_wal()
        else:
            # Connections are checked before use: a PostgreSQL restart must not fail requests.
            self._engine = create_async_engine(self.url, pool_pre_ping=True)
        await self.migrate()

    def _sqlite_engine(self) -> AsyncEngine:
        database = make_url(self.url).database
        pool: dict[str, Any] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # Every transaction takes the write lock, so one connection per process is all that
            # can work at a time: the others would sleep in SQLite's busy handler (backing off up
            # to 100 ms) while the lock sits free. Queued in the pool, they take it at once.
            pool = {"pool_size": 1, "max_overflow": 0}
        engine = create_async_engine(self.url, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def configure(dbapi_connection: Any, _record: Any) -> None:
            # Writers wait for each other (up to the busy timeout), not fail.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # With WAL this stays consistent but skips an fsync per commit; a power cut may lose
            # the last commits, which `reconcile` restores from Stripe (the source of truth).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def begin(connection: Connection) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes can
            # fail with "database is locked" without waiting for busy_timeout. Read-only ones
            # need no lock under WAL, so they never queue behind (or hold up) a writer.
            options = connection.get_execution_options()
            if options.get(ONE_STATEMENT):
                # No BEGIN: SQLite takes the write lock only while the statement runs, inside
                # the database thread. An explicit transaction would hold it across the hops
                # back to a busy event loop, and other shop processes would sleep in SQLite's
                # busy handler meanwhile.
                return
            if options.get(READ_ONLY):
                connection.exec_driver_sql("BEGIN")
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    async def close(self) -> None:
        """Finish queued writes, then close every pooled connection."""
        await self._checkouts.drain()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _use_wal(self) -> None:
        # WAL lets readers work beside the writer; the file keeps it once switched. Two processes
        # switching a new file at once each hold a shared lock and want the exclusive one, so
        # SQLite refuses one of them at once, without the busy wait (it would deadlock): retry.
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                async with self._one_statement() as connection:
                    await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                return
            except OperationalError as error:
                if "locked" not in str(error.orig) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.01)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def _transaction_marked(self, option: str) -> AsyncIterator[AsyncConnection]:
        # A transaction whose kind begin() reads from an execution option (READ_ONLY, ...).
        async with self.engine.connect() as connection:
            await connection.execution_options(**{option: True})
            async with connection.begin():
                yield connection

    def _one_statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        # For a single write that needs no transaction around it (see begin()).
        return self._transaction_marked(ONE_STATEMENT)

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        # For transactions that only read: on SQLite they skip the write lock (see begin()).
        return self._transaction_marked(READ_ONLY)

    async def migrate(self) -> int:
        """Apply the migration steps this database lacks; returns the schema version."""
        async with self._transaction() as connection:
            if self.dialect == "postgresql":
                # Two shop processes starting at once: the second waits here, then finds it done.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(lambda sync: schema_version.create(sync, checkfirst=True))
            current = (
                await connection.execute(
                    select(func.coalesce(func.max(schema_version.c.version), 0))
                )
            ).scalar_one()
            for version, step in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                await connection.run_sync(step)
                await connection.execute(
                    insert(schema_version).values(version=version, applied_at=_now())
                )
                log.info("orders ledger: schema migrated to version %s", version)
            return len(MIGRATIONS)

    def _insert(self, table: Table) -> Any:
        # ON CONFLICT is spelled alike in both, but each dialect has its own insert construct.
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def get(self, intent_id: str) -> Order | None:
        """The order for a PaymentIntent, if the ledger has it."""
        async with self._reading() as connection:
            row = (
                await connection.execute(select(orders).where(orders.c.intent_id == intent_id))
            ).first()
        return _order(row) if row is not None else None

    async def recent(self, limit: int = 50) -> list[Order]:
        """The newest orders, paid ones (to ship) first."""
        to_ship_first = case((orders.c.status == PAID, 0), else_=1)
        query = (
            select(orders)
            .order_by(to_ship_first, orders.c.created_at.desc(), orders.c.intent_id)
            .limit(limit)
        )
        async with self._reading() as connection:
            rows = (await connection.execute(query)).all()
        return [_order(row) for row in rows]

    async def event_seen(self, event_id: str) -> bool:
        """True once a webhook event id has been recorded."""
        async with self._reading() as connection:
            found = await connection.execute(
                select(webhook_events.c.id).where(webhook_events.c.id == event_id)
            )
            return found.first() is not None

    def _checkout_upsert(self) -> Any:
        # Typed like their columns, so PostgreSQL need not infer the type of each placeholder.
        quantity = bindparam("new_quantity", type_=orders.c.quantity.type)
        amount = bindparam("new_amount", type_=orders.c.amount.type)
        email = bindparam("new_email", type_=orders.c.email.type)
        now = bindparam("now", type_=orders.c.updated_at.type)
        return (
            self._insert(orders)
            .values(
                intent_id=bindparam("new_intent_id", type_=orders.c.intent_id.type),
                book_id=bindparam("new_book_id", type_=orders.c.book_id.type),
                quantity=quantity,
                amount=amount,
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
                    "quantity": quantity,
                    "amount": amount,
                    "email": func.coalesce(email, orders.c.email),
                    "updated_at": now,
                },
                # A paid order's quantity is what was paid for: a stale page can't change it.
                where=or_(*(orders.c.status == status for status in PAYABLE))
                & (
                    (orders.c.quantity != quantity)
                    | (orders.c.amount != amount)
                    | (email.is_not(None) & orders.c.email.is_distinct_from(email))
                ),
            )
        )

    async def record_checkout(self, intent: Intent) -> None:
        """Write what Stripe answered to a checkout's change of its intent (created, quantity,
        receipt address) while the order is payable."""
        parameters = {
            "new_intent_id": intent.id,
            "new_book_id": intent.book_id,
            "new_quantity": intent.quantity,
            "new_amount": intent.amount,
            "new_currency": intent.currency,
            "new_email": intent.email,
            "now": _now(),
        }
        await self._checkouts.put(parameters)

    async def _write_checkouts(self, rows: list[dict[str, Any]]) -> None:
        # One statement, run for each row (executemany): on SQLite each row commits by itself.
        async with self._one_statement() as connection:
            await connection.execute(self._record_checkout, rows)

    async def mark_paid(self, intent: Intent) -> bool:
        """The result page saw the payment succeed; True when this changed the order."""
        async with self._reading() as connection:
            status = (
                await connection.execute(
                    select(orders.c.status).where(orders.c.intent_id == intent.id)
                )
            ).scalar_one_or_none()
        if status is not None and status not in PAYABLE:
            # Already paid (or past it): statuses only move forward, so the write below would
            # change nothing. Polls of a paid result skip it and the write lock with it.
            return False
        async with self._transaction() as connection:
            await self._ensure(connection, intent)
            return await self._to_paid(connection, intent)

    async def apply_event(self, event: WebhookEvent) -> EventResult:
        """Record a verified webhook event once and apply it; a replay changes nothing."""
        async with self._transaction() as connection:
            recorded = await connection.execute(
                self._insert(webhook_events)
                .values(id=event.id, type=event.type, intent_id=event.intent_id, received_at=_now())
                .on_conflict_do_nothing(index_elements=[webhook_events.c.id])
                .returning(webhook_events.c.id)
            )
            if recorded.first() is None:
                return EventResult(replay=True)
            if event.intent_id is None:
                return EventResult(replay=False)
            known = (
                await connection.execute(
                    select(orders.c.stripe_seen).where(orders.c.intent_id == event.intent_id)
                )
            ).first()
            if known is not None and event.created < known.stripe_seen:
                return EventResult(replay=False, stale=True)
            return await self._apply_event(connection, event, known is not None)

    async def _apply_event(
        self, connection: AsyncConnection, event: WebhookEvent, known: bool
    ) -> EventResult:
        intent = event.intent
        intent_id = cast(str, event.intent_id)
        if intent is not None:
            if not intent.book_id and not known:
                return EventResult(replay=False)  # not one of the shop's checkouts
            await self._ensure(connection, intent)
        elif not known:
            # A charge event for an order the ledger lacks: only the intent can say what was bought.
            return EventResult(replay=False, stale=True)
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
        target = target_status(state)
        async with self._transaction() as connection:
            before = await self._get(connection, state.id)
            if before is None and not state.book_id:
                return None  # not one of the shop's checkouts
            if before is None:
                await self._ensure(connection, state)
            await self._seen(connection, state.id, int(time.time()))
            if state.book_id:
                # Stripe's amount and quantity are what was (or will be) charged: a paid order too
                # takes them from the intent that was paid. Only a payable intent (a stale read of
                # an order the ledger knows is past that) leaves a settled order alone.
                differs = (orders.c.quantity != state.quantity) | (orders.c.amount != state.amount)
                if target in PAYABLE:
                    differs &= orders.c.status.in_(PAYABLE)
                await self._update(
                    connection, state.id, differs, quantity=state.quantity, amount=state.amount
                )
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
        return _order(row) if row is not None else None

    async def _ensure(self, connection: AsyncConnection, intent: Intent) -> None:
        # An order the ledger missed (webhook before the checkout's write, another process, a
        # crash): create it open, then let the conditional updates move it on. It dates from
        # when the shopper started paying, not from when the ledger heard of it.
        now = _now()
        since = datetime.fromtimestamp(intent.created, UTC) if intent.created > 0 else now
        await connection.execute(
            self._insert(orders)
            .values(
                intent_id=intent.id,
                book_id=intent.book_id,
                quantity=intent.quantity,
                amount=intent.amount,
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
        )

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
        # What was paid for is the paid intent's amount and quantity, not the ledger's last word.
        return await self._update(
            connection,
            intent.id,
            orders.c.status.in_(PAYABLE),
            status=PAID,
            amount=intent.amount,
            quantity=intent.quantity,
            charge_id=func.coalesce(intent.charge_id, orders.c.charge_id),
            email=func.coalesce(intent.email, orders.c.email),
        )

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
