"""The ledger's database: URLs get their async driver, a SQLite file gets its folder and WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bookshop.config import ConfigError, normalise_database_url
from bookshop.orders import Ledger


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/shop.sqlite3", "sqlite+aiosqlite:///var/shop.sqlite3"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql://shop:pw@db:5432/shop", "postgresql+asyncpg://shop:pw@db:5432/shop"),
        ("postgres://shop:pw@db/shop", "postgresql+asyncpg://shop:pw@db/shop"),
        ("postgresql+asyncpg://db/shop", "postgresql+asyncpg://db/shop"),
    ],
)
def test_database_urls_get_their_async_driver(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize("url", ["mysql://db/shop", "not a url"])
def test_unsupported_database_url_is_refused_with_a_hint(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Ledger(url)


async def test_sqlite_file_gets_its_folder_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "orders.sqlite3"
    ledger = Ledger(f"sqlite:///{path}")
    await ledger.open()
    await ledger.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_processes_opening_a_new_sqlite_file_together_all_switch_it_to_wal(
    tmp_path: Path,
) -> None:
    # SQLite refuses one of two simultaneous switches at once ("database is locked"), without
    # waiting for the busy timeout: the shop's workers race like this on their first start.
    for attempt in range(5):
        url = f"sqlite+aiosqlite:///{tmp_path / f'new-{attempt}.sqlite3'}"
        ledgers = [Ledger(url) for _ in range(4)]
        await asyncio.gather(*(ledger.open() for ledger in ledgers))
        await asyncio.gather(*(ledger.close() for ledger in ledgers))
        with sqlite3.connect(tmp_path / f"new-{attempt}.sqlite3") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
