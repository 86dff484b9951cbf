"""Bring a ledger's schema up to date with Alembic, one shop process at a time."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from bookshop.database import Database

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).with_name("migrations")
# Arbitrary but fixed: serialises migrations across shop processes on one PostgreSQL.
MIGRATION_LOCK_KEY = 0x626F6F6B73686F70
# The revision that is the schema the shop built itself before Alembic (its `schema_version` 1).
BEFORE_ALEMBIC = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the ledger's scripts, running on `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the scripts know."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


async def upgrade(database: Database) -> tuple[str | None, str]:
    """Apply the revisions this database lacks; returns its revision before and after.

    One transaction holds the lock while it runs: PostgreSQL's advisory lock, or SQLite's write
    lock (every read-write transaction takes it at BEGIN). A second process starting at the same
    time waits, then finds nothing left to do.
    """
    async with database.transaction() as connection:
        if database.dialect == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        return await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "schema_version" in tables and "alembic_version" not in tables:
        # Made by the shop's own migration runner: its version 1 is Alembic's first revision.
        command.stamp(config, BEFORE_ALEMBIC)
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    assert after is not None
    if after != before:
        log.info("orders ledger: schema upgraded from %s to %s", before or "nothing", after)
    return before, after
