"""Counting requests against the rate limits routes declare: in Redis when several shop processes
must share one count (REDIS_URL), in this process's memory otherwise."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

# After Redis fails, how long this process counts alone before it tries Redis again: an outage
# costs one failed connection per this many seconds, not one per request.
RETRY_REDIS_SECONDS = 5.0
# A Redis that does not answer within this is treated as down: a pay step never waits on it long.
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Limit:
    """A rate ("10/minute") counted per key: the client's address, an account, or everyone."""

    rate: RateLimitItem
    key: Callable[[], Awaitable[str]]

    @classmethod
    def parse(cls, text: str, key: Callable[[], Awaitable[str]]) -> Limit:
        """'30/minute' -> a Limit of 30 requests a minute, counted per `key()`."""
        return cls(parse(text), key)


class Counter:
    """The shop's request counters: one moving window per limit and key.

    In Redis each hit is one Lua script, so the shop processes sharing it can never both take the
    last place in a window. When Redis cannot be reached, the shop keeps serving and counts in
    this process's memory (each process holds its own share, as with no Redis) until Redis answers
    again: failing closed would turn a Redis outage into a shop that takes no payments, and
    failing open would leave the pay step to card testers.
    """

    def __init__(self, redis_url: str | None = None) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._pool: ConnectionPool | None = None
        self._where = ""
        if redis_url:
            parts = urlsplit(redis_url)
            # Named in logs without its password.
            self._where = f"{parts.hostname or parts.path}:{parts.port or 6379}"
            # A pool of our own, so that `close` can end its connections with the shop.
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="bookshop",
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed on to redis-py
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._alone_until = 0.0

    async def check(self, name: str, limits: Sequence[Limit]) -> None:
        """Count one request against each limit in turn; TooManyRequests (429, with Retry-After)
        at the first that is full, leaving the limits after it uncounted."""
        for limit in limits:
            identifiers = (name, str(limit.rate), await limit.key())
            if not await self._hit(limit.rate, identifiers):
                raise TooManyRequests(
                    "Too many attempts in a short time. Wait a moment and try again.",
                    retry_after=await self._retry_after(limit.rate, identifiers),
                )

    async def close(self) -> None:
        """End the connections to Redis (the shop stops)."""
        if self._pool is not None:
            await self._pool.disconnect()

    async def _hit(self, rate: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        shared = self._reachable()
        if shared is not None:
            try:
                return await shared.hit(rate, *identifiers)
            except StorageError as error:
                self._lost(error)
        return await self._local.hit(rate, *identifiers)

    async def _retry_after(self, rate: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        limiter = self._reachable() or self._local
        try:
            stats = await limiter.get_window_stats(rate, *identifiers)
        except StorageError as error:
            self._lost(error)
            stats = await self._local.get_window_stats(rate, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _reachable(self) -> MovingWindowRateLimiter | None:
        if self._shared is None or time.monotonic() < self._alone_until:
            return None
        if self._alone_until:
            self._alone_until = 0.0
            log.warning("Redis at %s answers again: rate limits are shared again.", self._where)
        return self._shared

    def _lost(self, error: StorageError) -> None:
        self._alone_until = time.monotonic() + RETRY_REDIS_SECONDS
        log.error(
            "Redis at %s is unreachable (%s): rate limits are counted in this process only "
            "until it answers; retrying every %.0f s.",
            self._where,
            type(error.storage_error).__name__,
            RETRY_REDIS_SECONDS,
        )
