"""What the stock store reads and answers: a book's level, a change to it, a move, a lapsed hold,
and the refusals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StockLevel:
    """A counted book's copies: on hand (reserved ones included), reserved, and sold."""

    book_id: str
    on_hand: int
    reserved: int
    sold: int

    @property
    def available(self) -> int:
        """Copies a shopper can still buy."""
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Changed:
    """A book's stock before a shopkeeper's change (None: it was not counted) and after it."""

    before: StockLevel | None
    after: StockLevel


@dataclass(frozen=True)
class StockMove:
    """One change to a book's stock, what the stock was after it, and what made it."""

    book_id: str
    kind: str
    quantity: int
    on_hand: int
    reserved: int
    reference: str
    at: datetime


@dataclass(frozen=True)
class Hold:
    """A checkout's reservation that outlived its time, and the intent paying for it if known."""

    checkout_id: str
    intent_id: str | None
    since: datetime  # when the checkout reserved them


class Short(Exception):
    """A reservation asked for more copies of some books than are left: how many are, by id."""

    def __init__(self, left: dict[str, int]) -> None:
        super().__init__(left)
        self.left = left


class StockError(ValueError):
    """A stock command that cannot be done (below what checkouts hold, a negative count)."""
