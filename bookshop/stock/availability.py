"""What shoppers see of stock: how many copies of a counted book are left to buy, in words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bookshop.session import CheckoutState
from bookshop.stock.store import stock

# Up to this many copies left, shoppers read how many ("Only 2 left"); more is "In stock".
FEW_LEFT = 3


@dataclass(frozen=True)
class Availability:
    """How many copies of a book the shop counts are left to buy (on hand, less those reserved
    by checkouts paying now). A book the shop does not count has none: it is not limited."""

    left: int

    @property
    def sold_out(self) -> bool:
        """No copy is left to buy."""
        return self.left <= 0

    @property
    def few(self) -> bool:
        """So few are left that shoppers read how many."""
        return 0 < self.left <= FEW_LEFT

    @property
    def label(self) -> str:
        """What the grid and the book's page say: "In stock", "Only 2 left" or "Sold out"."""
        if self.sold_out:
            return "Sold out"
        return f"Only {self.left} left" if self.few else "In stock"

    def shortage(self, quantity: int) -> str | None:
        """What a line of `quantity` copies says when there are not that many, else None."""
        if self.sold_out:
            return "Sold out"
        if quantity > self.left:
            return f"Only {self.left} left: you asked for {quantity}"
        return None


async def availabilities(
    book_ids: Iterable[str], paying: CheckoutState | None = None
) -> dict[str, Availability]:
    """What is left of each of these books the shop counts (the others are absent): one stock
    query for all of them, as a page of the grid asks for its 24 books at once. For the lines of
    a checkout that has pressed Pay (`paying`), the copies it holds count as left to it: paying
    again gives them back first."""
    left = await stock().left(book_ids)
    if paying is not None and left and (paying.intent_id or paying.unanswered_since):
        for book_id, copies in (await stock().held(paying.id, left)).items():
            left[book_id] += copies
    return {book_id: Availability(copies) for book_id, copies in left.items()}
