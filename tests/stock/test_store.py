"""Stock in the database: reserving is all or nothing and never below zero, and each reservation
is sold or released once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from cachetools import TTLCache

from bookshop.stock import Changed, Short, Stock, StockError, StockLevel
from bookshop.stock.store import CACHE_ENTRIES, CACHE_SECONDS


def later() -> datetime:
    """When a test's reservations run out: well after the test (not after the module's import,
    which a long run leaves behind)."""
    return datetime.now(UTC) + timedelta(minutes=15)


async def level(books: Stock, book_id: str) -> StockLevel:
    (found,) = await books.levels(book_id)
    return found


async def test_a_reservation_takes_every_line_or_none_and_says_what_is_left(books: Stock) -> None:
    await books.set("code", 3, "test")
    await books.set("hackers", 1, "test")

    with pytest.raises(Short) as short:
        await books.reserve("checkout-a", [("code", 2), ("hackers", 2)], later())

    assert short.value.left == {"hackers": 1}
    assert await level(books, "code") == StockLevel("code", 3, 0, 0)  # nothing held
    assert [move.kind for move in await books.moves("code")] == ["set"]
    await books.reserve("checkout-a", [("code", 2), ("hackers", 1)], later())
    assert await level(books, "code") == StockLevel("code", 3, 2, 0)
    assert await books.left(["code", "hackers", "mythical-man-month"]) == {"code": 1, "hackers": 0}


async def test_a_book_not_counted_is_never_short(books: Stock) -> None:
    until = later()
    await books.reserve("checkout-a", [("code", 10)], until)
    assert await books.levels() == []
    assert await books.expired(until + timedelta(minutes=1)) == []  # nothing held for it


async def test_many_checkouts_at_once_hold_no_more_than_there_are(books: Stock) -> None:
    await books.set("code", 3, "test")

    async def one(n: int) -> bool:
        try:
            await books.reserve(f"checkout-{n}", [("code", 1)], later())
        except Short:
            return False
        return True

    held = await asyncio.gather(*(one(n) for n in range(12)))

    assert held.count(True) == 3
    assert await level(books, "code") == StockLevel("code", 3, 3, 0)


async def test_paying_again_replaces_the_checkouts_hold_instead_of_adding_to_it(
    books: Stock,
) -> None:
    await books.set("code", 3, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    await books.reserve("checkout-a", [("code", 3)], later())
    assert await level(books, "code") == StockLevel("code", 3, 3, 0)
    kinds = [move.kind for move in await books.moves("code")]
    assert kinds == ["set", "reserved", "released", "reserved"]


async def test_a_release_gives_the_copies_back_once(books: Stock) -> None:
    await books.set("code", 2, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    assert await books.release("declined", checkout_id="checkout-a") == 2
    assert await books.release("declined", checkout_id="checkout-a") == 0
    assert await level(books, "code") == StockLevel("code", 2, 0, 0)


async def test_a_sale_takes_the_held_copies_out_of_the_shop_once(books: Stock) -> None:
    await books.set("code", 3, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    await books.attach("checkout-a", "pi_1")
    async with books.database.transaction() as connection:
        assert await books.sell(connection, "checkout-a", "pi_1", [("code", 2)])
    assert await level(books, "code") == StockLevel("code", 1, 0, 2)
    move = (await books.moves("code"))[-1]
    assert (move.kind, move.quantity, move.on_hand, move.reference) == ("sold", -2, 1, "pi_1")


async def test_a_sale_whose_hold_lapsed_takes_what_is_left_or_nothing(books: Stock) -> None:
    await books.set("code", 2, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    await books.release("expired", checkout_id="checkout-a")
    await books.reserve("checkout-b", [("code", 1)], later())  # another shopper meanwhile

    async with books.database.transaction() as connection:
        sold = await books.sell(connection, "checkout-a", "pi_a", [("code", 2)])

    assert not sold  # one copy left for two: the payment must be refunded
    assert await level(books, "code") == StockLevel("code", 2, 1, 0)
    async with books.database.transaction() as connection:
        assert await books.sell(connection, "checkout-c", "pi_c", [("code", 1)])
    assert await level(books, "code") == StockLevel("code", 1, 1, 1)


async def test_holds_past_their_time_are_listed_with_their_intent(books: Stock) -> None:
    await books.set("code", 5, "test")
    soon = datetime.now(UTC) + timedelta(minutes=1)
    await books.reserve("checkout-a", [("code", 1)], soon)
    await books.attach("checkout-a", "pi_a")
    await books.reserve("checkout-b", [("code", 1)], later())
    expired = await books.expired(soon + timedelta(seconds=1))
    assert [(hold.checkout_id, hold.intent_id) for hold in expired] == [("checkout-a", "pi_a")]


@pytest.mark.parametrize(
    ("on_hand", "message"),
    [(-1, "fewer than 0"), (1, "2 copies of code are reserved")],
)
async def test_counting_below_zero_or_below_what_is_held_is_refused(
    books: Stock, on_hand: int, message: str
) -> None:
    await books.set("code", 3, "test")
    await books.reserve("checkout-a", [("code", 2)], later())
    with pytest.raises(StockError, match=message):
        await books.set("code", on_hand, "test")
    assert (await level(books, "code")).on_hand == 3


async def test_a_delivery_adds_copies_and_starts_counting_a_book(books: Stock) -> None:
    await books.add("code", 4, "delivery 17")
    await books.add("code", 2, "delivery 18")
    assert await level(books, "code") == StockLevel("code", 6, 0, 0)
    assert [(m.kind, m.quantity, m.reference) for m in await books.moves("code")] == [
        ("delivery", 4, "delivery 17"),
        ("delivery", 2, "delivery 18"),
    ]


async def test_a_change_in_the_callers_transaction_says_the_stock_before_and_after(
    books: Stock,
) -> None:
    async with books.database.transaction() as connection:
        counted = await books.set_in(connection, "code", 5, "test")
        delivered = await books.add_in(connection, "code", 2, "delivery 19")
    assert counted == Changed(None, StockLevel("code", 5, 0, 0))
    assert delivered == Changed(StockLevel("code", 5, 0, 0), StockLevel("code", 7, 0, 0))
    assert await books.left(["code"]) == {"code": 7}


async def test_a_change_is_undone_with_the_callers_transaction(books: Stock) -> None:
    await books.set("code", 3, "test")
    assert await books.left(["code"]) == {"code": 3}  # now cached

    class Undone(Exception):
        pass

    with pytest.raises(Undone):
        async with books.database.transaction() as connection:
            await books.set_in(connection, "code", 9, "test")
            await books.add_in(connection, "code", 1, "test")
            raise Undone
    assert await level(books, "code") == StockLevel("code", 3, 0, 0)
    assert [move.kind for move in await books.moves("code")] == ["set"]
    assert await books.left(["code"]) == {"code": 3}


async def test_a_delivery_of_no_copies_is_refused(books: Stock) -> None:
    with pytest.raises(StockError, match="at least 1 copy"):
        await books.add("code", 0, "test")
    assert await books.levels() == []


async def test_a_cached_count_expiring_as_it_is_read_is_never_an_error(books: Stock) -> None:
    await books.set("code", 5, "test")
    ticks = iter(n * 0.3 for n in range(1, 100))
    # A clock that moves 0.3 s at each reading: an entry the cache has at one reading is
    # gone at the next, as under load when a read straddles the end of its half second.
    books._left = TTLCache(CACHE_ENTRIES, CACHE_SECONDS, timer=lambda: next(ticks))
    books._left["code"] = 5

    assert await books.left(["code", "hackers"]) == {"code": 5}
