"""The database: its engine, SQLite's tuning, and the kinds of transaction it runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bookshop.config import normalise_database_url

# The shop's tables, each declared by its area's schema module as the newest migration leaves it.
metadata = MetaData()
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option naming a transaction that only reads.
READ_ONLY = "bookshop_read_only"
# Execution option naming a transaction of one statement, which SQLite runs atomically by itself.
ONE_STATEMENT = "bookshop_one_statement"


class Database:
    """An async engine for the shop's database (ledger and catalog), opened once per process."""

    def __init__(self, database_url: str) -> None:
        self.url = normalise_database_url(database_url)
        self.dialect = make_url(self.url).get_backend_name()
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (after `open()`)."""
        if self._engine is None:
            raise RuntimeError("the database is not open: the shop opens it as it starts")
        return self._engine

    @property
    def is_open(self) -> bool:
        """True between `open()` and `close()`."""
        return self._engine is not None

    async def open(self) -> None:
        """Connect, creating a SQLite file's folder and switching the file to WAL."""
        if self._engine is not None:
            return
        if self.dialect == "sqlite":
            self._engine = self._sqlite_engine()
            await self._use_wal()
        else:
            # Connections are checked before use: a PostgreSQL restart must not fail requests.
            self._engine = create_async_engine(self.url, pool_pre_ping=True)

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def insert(self, table: Table) -> Any:
        """An INSERT that can say ON CONFLICT: spelled alike in both, built by each dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that reads and writes (on SQLite it takes the write lock at once)."""
        async with self.engine.begin() as connection:
            yield connection

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction that only reads: on SQLite it takes no write lock (see `_begin`)."""
        return self._marked(READ_ONLY)

    def one_statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """Statements that need no transaction around them (a read of one statement, writes
        that stand alone): on SQLite each runs and commits by itself (no BEGIN, see `_begin`);
        elsewhere they run as one transaction."""
        return self._marked(ONE_STATEMENT)

    @asynccontextmanager
    async def _marked(self, option: str) -> AsyncIterator[AsyncConnection]:
        # A transaction whose kind _begin reads from an execution option.
        async with self.engine.connect() as connection:
            await connection.execution_options(**{option: True})
            async with connection.begin():
                yield connection

    def _sqlite_engine(self) -> AsyncEngine:
        database = make_url(self.url).database
        pool: dict[str, Any] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # Every transaction takes the write lock, so one connection per process is all that
            # can work at a time: the others would sleep in SQLite's busy handler (backing off
            # ever longer) while the lock sits free. Queued in the pool, they take it at once.
            pool = {"pool_size": 1, "max_overflow": 0}
        # No rollback each time a connection goes back to the pool: the connection commits each
        # statement itself (autocommit, see `_configure_sqlite`) and every transaction is a
        # context that commits or rolls back on leaving, so there is never one to reset, and
        # the rollback was a trip to SQLite's thread on every read.
        pool["pool_reset_on_return"] = None
        engine = create_async_engine(self.url, **pool)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin)
        return engine

    async def _use_wal(self) -> None:
        # WAL lets readers work beside the writer; the file keeps it once switched. Two processes
        # switching a new file at once each hold a shared lock and want the exclusive one, so
        # SQLite refuses one of them at once, without the busy wait (it would deadlock): retry.
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                async with self.one_statement() as connection:
                    await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                return
            except OperationalError as error:
                if "locked" not in str(error.orig) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.01)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Writers wait for each other (up to the busy timeout), not fail.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # With WAL this stays consistent but skips an fsync per commit; a power cut may lose the last
    # commits, which `reconcile` restores from Stripe (the source of truth).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(connection: Connection) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes can fail
    # with "database is locked" without waiting for busy_timeout. Read-only ones need no lock under
    # WAL, so they never queue behind (or hold up) a writer.
    options = connection.get_execution_options()
    if options.get(ONE_STATEMENT):
        # No BEGIN: SQLite takes the write lock only while the statement runs, inside the
        # database thread. An explicit transaction would hold it across the hops back to a busy
        # event loop, and other shop processes would sleep in SQLite's busy handler meanwhile.
        return
    if options.get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
