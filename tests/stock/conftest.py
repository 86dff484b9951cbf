"""Fixtures of the stock tests: the shop on SQLite, then on PostgreSQL, and its stock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from quart import Quart

from bookshop import create_app
from bookshop.config import Settings
from bookshop.stock import Stock
from tests.fixtures.app import Client, deliver_to_singapore


@pytest.fixture
async def shop(settings: Settings, database_url: str) -> AsyncIterator[Quart]:
    """The shop on this test's database: SQLite, then PostgreSQL."""
    app = create_app(replace(settings, database_url=database_url))
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


@pytest.fixture
def books(shop: Quart) -> Stock:
    """The shop's stock."""
    stock: Stock = shop.extensions["stock"]
    return stock


@pytest.fixture
async def shopper(shop: Quart) -> Client:
    """A client of `shop` whose session says where books go (Singapore)."""
    return await deliver_to_singapore(shop.test_client())
