"""The stock tests' own fixture (the shop on each database, and its shopper, are shared)."""

from __future__ import annotations

import pytest
from quart import Quart

from bookshop.stock import Stock


@pytest.fixture
def books(shop: Quart) -> Stock:
    """The stock of `shop`."""
    stock: Stock = shop.extensions["stock"]
    return stock
