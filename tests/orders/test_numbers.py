"""Order numbers: their shape and alphabet, drawn at random, read back from what people type, and
given to every order the ledger makes (a taken one drawn again), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from bookshop.orders import Ledger
from bookshop.orders import transitions as transitions_module
from bookshop.orders.numbers import ALPHABET, LENGTH, new_number, normalise
from bookshop.orders.schema import orders
from tests.orders.intents import event, intent, paid, state

NUMBER = re.compile(rf"^BK-[{ALPHABET}]{{{LENGTH}}}$")
DRAWS = 1000


def test_a_number_is_bk_and_six_characters_without_look_alikes() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 30
    assert not set(ALPHABET) & set("0O1ILU")
    assert all(NUMBER.match(new_number()) for _ in range(DRAWS))


def test_numbers_are_drawn_uniformly_at_every_position() -> None:
    drawn = [new_number().removeprefix("BK-") for _ in range(DRAWS)]
    # 1,000 draws: each character is expected some 33 times at each position. One missing, or
    # three times as common as it should be, would be a pattern (odds of chance: below 1e-14).
    for position in range(LENGTH):
        counts = Counter(number[position] for number in drawn)
        assert set(counts) == set(ALPHABET), f"position {position} misses characters"
        assert max(counts.values()) < 3 * DRAWS / len(ALPHABET)
    # Among 729 million numbers, a handful of 1,000 draws alike would already be very unlikely.
    assert len(set(drawn)) > DRAWS - 5


def test_numbers_come_from_the_systems_randomness_not_a_seedable_generator() -> None:
    random.seed(31)
    first = new_number()
    random.seed(31)
    assert new_number() != first


@pytest.mark.parametrize(
    "typed",
    [
        "BK-7Q4M2X",
        "bk-7q4m2x",
        "bk 7q4m2x",
        " BK7Q4M2X ",
        "7Q4M2X",
        "7q4m 2x",
        "BK\u20137Q4M2X",  # an en dash, as a word processor or a phone writes it
        "bk.7q4.m2x",
        "BK - 7Q4M2X",
    ],
)
def test_what_people_type_reads_as_the_number(typed: str) -> None:
    assert normalise(typed) == "BK-7Q4M2X"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "BK-",
        "BK-7Q4M2",  # one short
        "BK-7Q4M2XX",  # one too many
        "BK-7Q4M20",  # 0 is never in a number, nor O, 1, I, L or U
        "BK-7O4M2X",
        "BK-1Q4M2X",
        "BK-UQ4M2X",
        "XX-7Q4M2X",
        "ada@example.com",
        "pi_3Nabc",
        "BK-7Q4M2X" * 20,
    ],
)
def test_what_cannot_be_a_number_reads_as_none(typed: str) -> None:
    assert normalise(typed) is None


async def test_every_order_the_ledger_makes_gets_its_own_number(ledger: Ledger) -> None:
    await ledger.record_payment(intent("pi_a"))  # the pay step
    await ledger.mark_paid(paid("pi_b"))  # the result page, before any other write
    await ledger.apply_event(event("evt_c", "payment_intent.succeeded", state("pi_c"), 1))
    await ledger.apply_state(state("pi_d"))  # reconcile

    found = [await ledger.get(intent_id) for intent_id in ("pi_a", "pi_b", "pi_c", "pi_d")]

    numbers = [order.number for order in found if order is not None]
    assert len(numbers) == 4 and all(NUMBER.match(number) for number in numbers)
    assert len(set(numbers)) == 4


async def test_an_order_keeps_its_number_through_every_later_write(ledger: Ledger) -> None:
    await ledger.record_payment(intent())
    before = await ledger.get("pi_ledger1")
    await ledger.record_payment(intent(quantity=2))
    await ledger.mark_paid(paid(quantity=2))
    await ledger.apply_event(event("evt_1", "payment_intent.succeeded", state(quantity=2), 2))

    after = await ledger.get("pi_ledger1")

    assert before is not None and after is not None
    assert after.status == "paid" and after.number == before.number


async def test_a_number_drawn_twice_is_drawn_again_and_the_write_goes_on(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ledger.record_payment(intent("pi_first"))
    first = await ledger.get("pi_first")
    assert first is not None
    draws = iter([first.number, first.number, "BK-FRESH2"])
    monkeypatch.setattr(transitions_module, "new_number", lambda: next(draws))

    # ensure, then to_paid, in one transaction: on PostgreSQL a failed statement would have
    # aborted it, and the order would be neither made nor paid.
    assert await ledger.mark_paid(paid("pi_second")) is True

    second = await ledger.get("pi_second")
    assert second is not None
    assert (second.number, second.status) == ("BK-FRESH2", "paid")
    assert next(draws, None) is None  # drawn three times: twice taken, then free
    assert (await ledger.get("pi_first")) == first


async def test_an_order_that_exists_draws_no_number(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ledger.record_payment(intent())
    before = await ledger.get("pi_ledger1")
    assert before is not None
    drawn: list[str] = []

    def counted() -> str:
        drawn.append(new_number())
        return drawn[-1]

    monkeypatch.setattr(transitions_module, "new_number", counted)
    await ledger.mark_paid(paid())

    # One draw for the insert that found the order there; no retry after it.
    assert len(drawn) == 1
    after = await ledger.get("pi_ledger1")
    assert after is not None and after.number == before.number


async def test_the_ledger_finds_an_order_by_its_number(ledger: Ledger) -> None:
    await ledger.record_payment(intent("pi_a"))
    await ledger.record_payment(intent("pi_b", quantity=2))
    order = await ledger.get("pi_b")
    assert order is not None

    assert await ledger.by_number(order.number) == order
    assert await ledger.by_number("BK-NONE22") is None


async def test_the_database_refuses_an_order_without_a_number_or_with_anothers(
    ledger: Ledger,
) -> None:
    await ledger.record_payment(intent("pi_a"))
    await ledger.record_payment(intent("pi_b"))
    taken = await ledger.get("pi_a")
    assert taken is not None
    for number in (taken.number, None):
        with pytest.raises(IntegrityError):
            async with ledger.database.transaction() as connection:
                await connection.execute(
                    update(orders).where(orders.c.intent_id == "pi_b").values(number=number)
                )
