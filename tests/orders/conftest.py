"""The ledger's tests' own fixture: an open ledger on each database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bookshop.orders import Ledger


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    """An open ledger on an empty database."""
    ledger = Ledger(database_url)
    await ledger.open()
    yield ledger
    await ledger.close()
