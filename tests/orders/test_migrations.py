"""Migrations: a new ledger and one made before Alembic (schema v1) both end at the newest
revision, with every order kept, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from bookshop import create_app
from bookshop.admin import schema as admin_schema  # noqa: F401 - declares its tables
from bookshop.catalog import schema as catalog_schema  # noqa: F401 - declares its tables
from bookshop.catalog.books import read_toml
from bookshop.config import SEED_FILE, Settings
from bookshop.database import metadata
from bookshop.mail import schema as mail_schema  # noqa: F401 - declares its tables
from bookshop.orders import Ledger
from bookshop.orders.migrate import alembic_config, head
from bookshop.orders.schema import OrderLine

V1 = Path(__file__).parents[1] / "fixtures" / "ledger"
# The columns every version of `orders` has had.
ORDERS = (
    "SELECT intent_id, amount, currency, email, status, attempts, decline_code, charge_id, "
    "amount_refunded, stripe_seen, created_at, updated_at FROM orders ORDER BY intent_id"
)
EVENTS = "SELECT * FROM webhook_events ORDER BY id"

SEED_TITLES = {book.id: book.title for book in read_toml(SEED_FILE)}


def declared(item: Any, name: str | None, kind: str, reflected: bool, _compared: Any) -> bool:
    """Whether the code declares a schema object: the catalog's full-text index (SQLite's FTS5
    tables, PostgreSQL's generated column) is the migration's alone."""
    if kind in ("table", "index"):
        return not (name or "").startswith("books_search")
    return not (kind == "column" and name == "search" and item.table.name == "books")


async def rows(ledger: Ledger, query: str) -> list[tuple[Any, ...]]:
    """Every row a query returns, as plain tuples."""
    async with ledger.engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(text(query))).all()]


async def tables_and_revision(ledger: Ledger) -> tuple[set[str], str | None]:
    def read(connection: Connection) -> tuple[set[str], str | None]:
        revision = MigrationContext.configure(connection).get_current_revision()
        return set(inspect(connection).get_table_names()), revision

    async with ledger.engine.connect() as connection:
        return await connection.run_sync(read)


async def test_two_processes_starting_a_new_ledger_together_migrate_it_once(
    database_url: str,
) -> None:
    first, second = Ledger(database_url), Ledger(database_url)
    await asyncio.gather(first.open(), second.open())
    try:
        assert await rows(first, "SELECT version_num FROM alembic_version") == [(head(),)]
        tables, revision = await tables_and_revision(first)
        assert revision == head()
        assert {table for table in tables if not table.startswith("books_search")} == {
            "alembic_version",
            "orders",
            "order_lines",
            "webhook_events",
            "books",
            "book_stock",
            "reservations",
            "stock_moves",
            "staff",
            "staff_sessions",
            "audit_log",
            "outbox",
        }
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_the_migrations_build_exactly_the_tables_the_code_declares(
    database_url: str,
) -> None:
    ledger = Ledger(database_url)
    await ledger.open()
    try:
        async with ledger.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_object": declared}), metadata
                )
            )
    finally:
        await ledger.close()
    assert differences == []


@pytest.fixture
def v1_sqlite(tmp_path: Path) -> str:
    """A copy of a ledger the shop made at schema v1, as a SQLite URL."""
    path = tmp_path / "v1.sqlite3"
    shutil.copyfile(V1 / "v1.sqlite3", path)
    return f"sqlite:///{path}"


@pytest.fixture
def v1_postgresql(postgres_url: str) -> str:
    """A fresh PostgreSQL database loaded with a ledger the shop made at schema v1."""

    async def load() -> None:
        connection = await asyncpg.connect(postgres_url, timeout=10)
        try:
            await connection.execute((V1 / "v1-postgresql.sql").read_text())
        finally:
            await connection.close()

    asyncio.run(load())
    return postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def v1_database(request: pytest.FixtureRequest) -> str:
    """A ledger made by schema v1: the SQLite file, then the PostgreSQL dump."""
    url: str = request.getfixturevalue(f"v1_{request.param}")
    return url


def v1_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """Rows of a v1 ledger read before the shop touches it (no driver of the shop's)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return connection.execute(query).fetchall()

    async def read() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            return [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()

    return asyncio.run(read())


async def test_a_v1_ledger_upgrades_in_place_with_every_order_and_event_kept(
    v1_database: str,
) -> None:
    orders_before = await asyncio.to_thread(v1_rows, v1_database, ORDERS)
    books_before = await asyncio.to_thread(
        v1_rows, v1_database, "SELECT intent_id, book_id, quantity, amount FROM orders"
    )
    events_before = await asyncio.to_thread(v1_rows, v1_database, EVENTS)
    assert len(orders_before) == 5 and len(events_before) == 6

    ledger = Ledger(v1_database)
    await ledger.open()
    try:
        tables, revision = await tables_and_revision(ledger)
        assert revision == head()
        assert "schema_version" not in tables
        orders_after = await rows(ledger, ORDERS)
        assert [_comparable(row) for row in orders_after] == [
            _comparable(row) for row in orders_before
        ]
        assert len(await rows(ledger, EVENTS)) == len(events_before)
        statuses = {order.intent_id: order.status for order in await ledger.recent()}
        assert statuses == {
            "pi_v1order1": "open",
            "pi_v1order2": "paid",
            "pi_v1order3": "failed",
            "pi_v1order4": "refunded",
            "pi_v1order5": "canceled",
        }
        assert await ledger.event_seen("evt_v1refunded4")
        # Each order of one book became an order of one line, at the price it was sold for.
        for intent_id, book_id, quantity, amount in books_before:
            order = await ledger.get(intent_id)
            assert order is not None
            # Titles come from the shop's catalog file as it is (a book it lacks keeps its id).
            title = SEED_TITLES.get(book_id, book_id)
            assert order.lines == (OrderLine(book_id, title, amount // quantity, quantity),)
    finally:
        await ledger.close()


async def test_every_migration_goes_back_down_with_the_orders_kept_until_the_tables_go(
    v1_database: str,
) -> None:
    books = "SELECT intent_id, book_id, quantity, amount FROM orders ORDER BY intent_id"
    orders_v1 = await asyncio.to_thread(v1_rows, v1_database, ORDERS)
    books_v1 = await asyncio.to_thread(v1_rows, v1_database, books)
    ledger = Ledger(v1_database)
    await ledger.open()  # up to the newest revision

    async def downgrade(revision: str) -> None:
        async with ledger.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.downgrade(alembic_config(sync), revision)
            )

    try:
        await downgrade("0001")
        v1_tables, v1_revision = await tables_and_revision(ledger)
        # Back to what the shop before Alembic read, its own version table included.
        assert v1_revision == "0001" and {"orders", "schema_version"} <= v1_tables
        assert [_comparable(row) for row in await rows(ledger, ORDERS)] == [
            _comparable(row) for row in orders_v1
        ]
        assert [_comparable(row) for row in await rows(ledger, books)] == [
            _comparable(row) for row in books_v1
        ]
        await downgrade("base")
        assert await tables_and_revision(ledger) == ({"alembic_version"}, None)
    finally:
        await ledger.close()


def _comparable(row: tuple[Any, ...]) -> tuple[str, ...]:
    # SQLite's raw driver returns timestamps as text, the shop's engine as datetimes.
    return tuple(str(value).replace("T", " ") for value in row)


def test_db_upgrade_command_upgrades_a_v1_ledger_then_has_nothing_to_do(
    settings: Settings, v1_sqlite: str
) -> None:
    runner = create_app(replace(settings, database_url=v1_sqlite)).test_cli_runner()

    first = runner.invoke(args=["db", "upgrade"])
    second = runner.invoke(args=["db", "upgrade"])

    assert first.exit_code == 0, first.output
    assert f"Ledger upgraded from 0001 to {head()}" in first.output
    assert second.exit_code == 0, second.output
    assert f"Ledger already at the newest revision, {head()}" in second.output


async def test_orders_made_before_order_numbers_each_get_a_number_of_their_own(
    v1_database: str,
) -> None:
    ledger = Ledger(v1_database)
    await ledger.open()
    try:
        numbered = await rows(ledger, "SELECT intent_id, number FROM orders ORDER BY intent_id")
        assert [intent_id for intent_id, _ in numbered] == [f"pi_v1order{n}" for n in range(1, 6)]
        numbers = [number for _, number in numbered]
        assert all(re.fullmatch(r"BK-[2-9A-HJKMNP-TV-Z]{6}", number) for number in numbers)
        assert len(set(numbers)) == len(numbers)
        # The ledger finds each order by its number.
        for intent_id, number in numbered:
            order = await ledger.by_number(number)
            assert order is not None and order.intent_id == intent_id
    finally:
        await ledger.close()
