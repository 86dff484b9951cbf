"""A checkout: the cart's, or one book bought now. One notion with one loader each, its URLs,
the state the session keeps of it, and what happens to it once paid."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from quart import Response, redirect, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.address import save_address, saved_address
from bookshop.basket import MIN_QUANTITY, Basket, one_book, paid_basket
from bookshop.cart import read_cart, write_cart
from bookshop.catalog import Book, catalog
from bookshop.forms import find_book, parse_quantity
from bookshop.payments import Intent
from bookshop.session import (
    CART,
    CheckoutState,
    checkout_keys,
    checkout_state,
    set_checkout_state,
)
from bookshop.shipping import default_rates


@dataclass(frozen=True)
class Checkout:
    """What one checkout is for: the cart's lines, or one book at a quantity (`book`)."""

    key: str  # where the session keeps it: CART, or the book's id
    books: Basket  # priced from the catalog now, not yet delivered anywhere
    book: Book | None = None
    dropped: bool = False  # a book in the cart has left the catalog (and the cart)

    @property
    def quantity(self) -> int:
        """The copies of a book bought now (1 for the cart's checkout)."""
        return self.books.lines[0].quantity if self.book and self.books.lines else MIN_QUANTITY

    @property
    def page_url(self) -> str:
        """The checkout's page."""
        if self.book is None:
            return url_for("checkout.cart")
        return url_for("checkout.page", book_id=self.book.id, quantity=self.quantity)

    @property
    def pay_url(self) -> str:
        """Where its Pay button posts."""
        if self.book is None:
            return url_for("checkout.pay_cart")
        return url_for("checkout.pay_book", book_id=self.book.id)

    @property
    def state(self) -> CheckoutState:
        """What the session keeps of it, from its first page view on (a new id then): a Pay
        whose answer never reaches the browser (a tab closed while paying) is found by it."""
        state = checkout_state(self.key)
        if state is None:
            state = CheckoutState(secrets.token_urlsafe(12))
            self.keep(state)
        return state

    def keep(self, state: CheckoutState) -> None:
        """Remember its state in the session."""
        set_checkout_state(self.key, state)


async def cart_checkout() -> Checkout:
    """The checkout of the session's cart."""
    books, dropped = await read_cart()
    return Checkout(CART, books, dropped=dropped)


async def book_checkout(book_id: str, quantity: str | None) -> Checkout:
    """The checkout of one book bought now: 404 for a book the shop doesn't sell, 400/422 for
    a quantity it can't read."""
    book = await find_book(book_id)
    return Checkout(book.id, one_book(book, parse_quantity(quantity)), book)


def delivered(books: Basket) -> Basket | None:
    """The books going to the session's address, with what delivery there costs; None until
    the shopper has said where they go (or when the shop no longer delivers there)."""
    rates = default_rates()
    address = saved_address(rates)
    zone = rates.zone(address.country) if address is not None else None
    if address is None or zone is None:
        return None
    return books.delivered(address, zone.cost(books.count, books.subtotal))


async def ordered(intent: Intent) -> Basket:
    """What an intent pays for: its lines at the prices confirmed, its delivery and address."""
    return paid_basket(
        ((each.book_id, each.quantity, each.unit_price) for each in intent.lines),
        # A book retired since is still what was paid for: its title stays on the receipt.
        {
            book_id: entry.book
            for book_id, entry in (
                await catalog().entries(each.book_id for each in intent.lines)
            ).items()
        },
        intent.shipping,
        intent.address,
    )


def started_here(intent: Intent) -> bool:
    """Whether this browser session started the checkout an intent belongs to."""
    return intent.checkout_id in checkout_keys()


async def forget_paid(payment: Intent) -> None:
    """One of this session's checkouts was paid: it starts afresh, so the next visit is a new
    order. A paid cart's books leave the cart (those added meanwhile stay); the address leaves
    the session once the cart is empty, as it stays there only until paid."""
    key = checkout_keys().get(payment.checkout_id)
    books, _ = await read_cart()
    if key == CART:
        paid: dict[str, int] = {}
        for each in payment.lines:
            paid[each.book_id] = paid.get(each.book_id, 0) + each.quantity
        books = books.less(paid)
        write_cart(books)
    if key is not None:
        set_checkout_state(key, None)
    if not books.lines:
        save_address(None)


def result_url(intent: Intent, *, fragment: bool = False) -> str:
    """Where a payment's result is shown (the full page, or the fragment htmx polls)."""
    return url_for(
        "checkout.payment_status" if fragment else "checkout.success",
        payment_intent=intent.id,
        payment_intent_client_secret=intent.client_secret,
    )


def back_url(payment: Intent) -> str:
    """Where "back to the checkout" leads from a payment's result: the checkout it came from."""
    key = checkout_keys().get(payment.checkout_id)
    if key == CART or (key is None and len(payment.lines) != 1):
        return url_for("checkout.cart")
    line = payment.lines[0]
    return url_for("checkout.page", book_id=line.book_id, quantity=line.quantity)


def elsewhere(url: str) -> Response | WerkzeugResponse:
    """Send the shopper to another page: a full page load for htmx and checkout.js (a 409 that
    says where to go), a 303 for a plain form."""
    if htmx.wants_fragment():
        return htmx.redirect(Response(status=409), url)
    return redirect(url, code=303)


def address_step(checkout: Checkout) -> str:
    """The address step, leading back to this checkout."""
    return url_for("checkout.address", next=checkout.page_url)
