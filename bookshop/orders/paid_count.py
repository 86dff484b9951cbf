"""Orders made paid, counted for the metrics once the ledger's write that made them paid has
committed: a write that rolls back counts none, and duplicates count once (`to_paid` makes an
order paid once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from functools import wraps
from typing import ParamSpec, TypeVar

from bookshop import metrics

P = ParamSpec("P")
T = TypeVar("T")

# The orders made paid by the ledger write this task is in; None outside one.
_made_paid: ContextVar[list[str] | None] = ContextVar("made_paid", default=None)


def made_paid(intent_id: str) -> None:
    """`to_paid` made this order paid, in the write under way (counted once it commits)."""
    paid = _made_paid.get()
    if paid is not None:
        paid.append(intent_id)


def counts_paid(write: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """For each of the ledger's writes: the orders made paid in it are counted
    (metrics.orders_paid) once it has returned, its transaction committed."""

    @wraps(write)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> T:
        paid: list[str] = []
        token = _made_paid.set(paid)
        try:
            result = await write(*args, **kwargs)
        finally:
            _made_paid.reset(token)
        metrics.orders_paid(len(paid))
        return result

    return counted
