"""Fixtures of the checkout's tests where the ledger matters: the shop on SQLite, then on
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from quart import Quart

from bookshop import create_app
from bookshop.config import Settings
from tests.fixtures.app import Client, deliver_to_singapore


@pytest.fixture
async def shop(settings: Settings, database_url: str) -> AsyncIterator[Quart]:
    """The shop on this test's database: SQLite, then PostgreSQL."""
    app = create_app(replace(settings, database_url=database_url))
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


@pytest.fixture
async def shopper(shop: Quart) -> Client:
    """A client of `shop` whose session says where books go (Singapore)."""
    return await deliver_to_singapore(shop.test_client())
