"""Counting against rate limits: in memory for one process, in Redis shared by several (each
hit atomic, so two processes never both take the last place), and on alone when Redis goes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.exceptions import TooManyRequests

from bookshop.rate_limits import Counter, Limit
from tests.fixtures.services import RedisServer, missing_binaries, running_redis


async def everyone() -> str:
    return "everyone"


async def allowed(counter: Counter, limit: Limit) -> bool:
    try:
        await counter.check("pay", [limit])
    except TooManyRequests:
        return False
    return True


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if missing_binaries():
        pytest.skip(missing_binaries())
    with running_redis(tmp_path) as server:
        yield server


async def test_in_memory_the_limit_answers_429_with_retry_after_once_full() -> None:
    counter, limit = Counter(), Limit.parse("3/minute", everyone)
    assert [await allowed(counter, limit) for _ in range(4)] == [True, True, True, False]
    with pytest.raises(TooManyRequests) as refused:
        await counter.check("pay", [limit])
    headers = dict(refused.value.get_headers())
    assert 1 <= int(headers["Retry-After"]) <= 60


async def test_a_limit_refused_first_leaves_the_next_uncounted() -> None:
    async def client() -> str:
        return "203.0.113.7"

    counter = Counter()
    per_client, for_all = Limit.parse("1/minute", client), Limit.parse("2/minute", everyone)
    await counter.check("pay", [per_client, for_all])
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            await counter.check("pay", [per_client, for_all])
    # The refused tries never reached the all-clients count: it has one place left.
    assert await allowed(counter, for_all)
    assert not await allowed(counter, for_all)


async def test_two_processes_on_one_redis_share_the_limit_exactly(
    redis_server: RedisServer,
) -> None:
    # Two counters are two shop processes: each has its own memory, and only Redis in common.
    first, second = Counter(redis_server.url), Counter(redis_server.url)
    limit = Limit.parse("25/minute", everyone)
    try:
        answers = await asyncio.gather(
            *(allowed(first if n % 2 else second, limit) for n in range(80))
        )
    finally:
        await first.close()
        await second.close()
    assert answers.count(True) == 25


async def test_without_redis_each_process_counts_alone_and_says_so_in_the_log(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis_server.url.replace("redis://", "redis://:hunter2-not-logged@")
    counter, limit = Counter(url), Limit.parse("2/minute", everyone)
    redis_server.stop()
    with caplog.at_level(logging.ERROR, "bookshop.rate_limits"):
        try:
            assert [await allowed(counter, limit) for _ in range(3)] == [True, True, False]
        finally:
            await counter.close()
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and "unreachable" in errors[0] and f"127.0.0.1:{redis_server.port}" in errors[0]
    # Logged once for the outage, not for every request, and without the URL's password.
    assert len(errors) == 1
    assert "hunter2" not in caplog.text
