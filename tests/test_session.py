"""The session cookie: what it holds, read back through its accessors, and its size."""

from __future__ import annotations

from quart import Quart, session

from bookshop.address import FIELDS, MAX_LENGTHS
from bookshop.basket import MAX_QUANTITY, MAX_TITLES
from bookshop.catalog import Book
from bookshop.catalog.books import MAX_ID_LENGTH
from bookshop.session import (
    CART,
    MAX_CHECKOUTS,
    CheckoutState,
    address_fields,
    cart_entries,
    checkout_keys,
    checkout_state,
    set_checkout_state,
)
from tests.fixtures.app import Client, post
from tests.fixtures.paying import fill_cart

# Browsers keep a cookie of 4096 bytes (name, value and attributes); past it they drop it, and
# the shopper loses the cart and the CSRF token with it.
COOKIE_LIMIT = 4096


def longest_ids(count: int) -> list[str]:
    """`count` distinct book ids of the longest length the catalog allows."""
    return [f"{n:02d}-" + "a" * (MAX_ID_LENGTH - 3) for n in range(count)]


async def test_the_largest_cart_address_and_checkouts_fit_in_one_cookie(
    app: Quart, new_client: Client
) -> None:
    ids = longest_ids(MAX_TITLES + MAX_CHECKOUTS)
    await app.extensions["catalog"].write([Book(book_id, "T", "A", "", 100) for book_id in ids])
    client = new_client
    await fill_cart(client, *((book_id, MAX_QUANTITY) for book_id in ids[:MAX_TITLES]))
    # The longest address, in a script whose every letter JSON escapes to six bytes.
    address = {field: "\u5c71" * MAX_LENGTHS[field] for field in FIELDS}
    address["country"] = "SG"
    async with client.session_transaction() as session:
        session["address"] = address
        session["checkouts"] = {
            key: {"id": "x" * 16, "intent": "pi_" + "y" * 24}
            for key in ["cart", *ids[MAX_TITLES:]][:MAX_CHECKOUTS]
        }
    # A request that rewrites the cookie, as every add to the cart does.
    assert (await post(client, "/cart/" + ids[0], {"quantity": "9"})).status_code == 303

    cookie = next(c for c in client.cookie_jar if c.name == "session")  # type: ignore[union-attr]
    size = len(cookie.name) + 1 + len(cookie.value) + len("; HttpOnly; Path=/; SameSite=Lax")
    assert size < COOKIE_LIMIT, size


async def test_a_session_keeps_the_carts_checkout_and_the_newest_buy_now_ones(app: Quart) -> None:
    books = ["code", "hackers", "mythical-man-month", "working-in-public", "dream-machine"]
    async with app.test_request_context("/"):
        set_checkout_state(CART, CheckoutState("for-the-cart"))
        for book_id in books:
            set_checkout_state(book_id, CheckoutState(f"for-{book_id}", f"pi_{len(book_id)}"))
        assert list(checkout_keys().values()) == [CART, *books[-(MAX_CHECKOUTS - 1) :]]
        assert checkout_state(CART) == CheckoutState("for-the-cart")
        assert checkout_state("dream-machine") == CheckoutState("for-dream-machine", "pi_13")
        assert checkout_state("code") is None
        set_checkout_state("dream-machine", None)
        assert "for-dream-machine" not in checkout_keys()


async def test_values_of_another_shape_read_as_absent(app: Quart) -> None:
    async with app.test_request_context("/"):
        session["cart"] = [["code", 1], ["bad"], "x", ["hackers", "2"], ["dream-machine", True]]
        session["address"] = {"name": 1}
        session["checkouts"] = {CART: {"id": 5}, "code": "x"}
        assert cart_entries() == [("code", 1)]
        assert address_fields() is None
        assert checkout_state(CART) is None and checkout_state("code") is None
