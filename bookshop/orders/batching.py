"""Rows written together: each caller queues its row and waits for the write that carries it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class GroupWriter:
    """Queue rows and write them in batches; `put` returns once its row has committed (or raises
    the batch's error).

    A write costs the same few hops to the database thread whatever its size, so under load the
    rows queued while one write runs go out together in the next; with no load a row goes out
    alone, at once.
    """

    def __init__(self, write: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> None:
        self._write = write
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def put(self, row: dict[str, Any]) -> None:
        """Write the row with the next batch; returns once it is committed."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((row, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_queued())
        # The write runs in its own task: a shopper who leaves cancels only their own wait.
        await done

    async def drain(self) -> None:
        """Wait for the rows already queued."""
        if self._writing is not None:
            await self._writing

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._write([row for row, _ in batch])
            except Exception as error:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
            except BaseException:
                # Cancelled (the server is stopping): no caller may wait for a write that won't
                # come, the rows queued meanwhile included.
                for _, done in (*batch, *self._queue):
                    done.cancel()
                self._queue = []
                raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
