"""Rows written together: batches form while a write runs; failures and cancels reach everyone."""

from __future__ import annotations

import asyncio
from typing import Any

from bookshop.orders.batching import GroupWriter


class SlowWrites:
    """A write function that records each batch and holds the first until released."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def __call__(self, rows: list[dict[str, Any]]) -> None:
        self.batches.append(rows)
        if len(self.batches) == 1:
            await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("disk full")


async def test_rows_queued_during_a_write_go_out_together_in_the_next() -> None:
    writes = SlowWrites()
    writer = GroupWriter(writes)
    first = asyncio.create_task(writer.put({"n": 0}))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(writer.put({"n": n})) for n in range(1, 6)]
    await asyncio.sleep(0)
    assert not first.done()
    writes.release.set()
    await asyncio.gather(first, *rest)
    assert writes.batches == [[{"n": 0}], [{"n": n} for n in range(1, 6)]]


async def test_a_failed_write_fails_every_row_in_it_and_the_next_batch_is_written() -> None:
    writes = SlowWrites()
    writes.fail_next = True
    writer = GroupWriter(writes)
    puts = [asyncio.create_task(writer.put({"n": n})) for n in range(3)]
    await asyncio.sleep(0)
    writes.release.set()
    results = await asyncio.gather(*puts, return_exceptions=True)
    assert [str(result) for result in results] == ["disk full"] * 3
    await writer.put({"n": 3})
    assert writes.batches[-1] == [{"n": 3}]


async def test_a_shopper_who_leaves_does_not_cancel_the_write() -> None:
    writes = SlowWrites()
    writer = GroupWriter(writes)
    leaving = asyncio.create_task(writer.put({"n": 0}))
    staying = asyncio.create_task(writer.put({"n": 1}))
    await asyncio.sleep(0)
    leaving.cancel()
    writes.release.set()
    await staying
    await writer.drain()
    assert writes.batches == [[{"n": 0}, {"n": 1}]]


async def test_a_cancelled_write_leaves_no_caller_waiting_not_even_those_queued_behind_it() -> None:
    writes = SlowWrites()
    writer = GroupWriter(writes)
    first = asyncio.create_task(writer.put({"n": 0}))
    await asyncio.sleep(0)
    queued = asyncio.create_task(writer.put({"n": 1}))
    await asyncio.sleep(0)
    writer._writing.cancel()  # type: ignore[union-attr]  # what stopping the server does
    done, pending = await asyncio.wait({first, queued}, timeout=2)
    assert pending == set()
    assert all(task.cancelled() for task in done)
