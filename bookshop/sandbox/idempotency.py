"""Stripe's Idempotency-Key: replay the first response, refuse other parameters, serialise races."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# Enough for a long benchmark run; Stripe keeps keys for 24 h, the sandbox forgets the oldest.
MAX_KEYS = 100_000

CacheKey = tuple[str, str]


@dataclass(frozen=True)
class SavedResponse:
    """The first response given for a key, and what it was given for."""

    request: tuple[object, ...]
    status: int
    body: bytes


class IdempotencyCache:
    """Saved responses per (API key, Idempotency-Key), with a lock per key."""

    def __init__(self) -> None:
        self._saved: OrderedDict[CacheKey, SavedResponse] = OrderedDict()
        self._locks: dict[CacheKey, asyncio.Lock] = {}
        self._waiters: dict[CacheKey, int] = {}

    @asynccontextmanager
    async def locked(self, key: CacheKey) -> AsyncIterator[None]:
        """Hold the key's lock so two requests with one key never both run."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiters[key] -= 1
            if self._waiters[key] == 0:
                del self._waiters[key]
                del self._locks[key]

    def get(self, key: CacheKey) -> SavedResponse | None:
        """The saved response for a key, if any."""
        return self._saved.get(key)

    def save(self, key: CacheKey, saved: SavedResponse) -> None:
        """Remember a response, forgetting the oldest beyond MAX_KEYS."""
        self._saved[key] = saved
        if len(self._saved) > MAX_KEYS:
            self._saved.popitem(last=False)
