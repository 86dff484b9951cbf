"""The cart: book ids and quantities kept in the shopper's session, and the cart page."""

from __future__ import annotations

from quart import Blueprint, Response, redirect, request, url_for
from werkzeug.exceptions import BadRequest, NotFound, UnprocessableEntity
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.basket import MAX_QUANTITY, MAX_TITLES, MIN_QUANTITY, Basket, Line, line
from bookshop.catalog import Book, catalog
from bookshop.forms import find_book, parse_quantity
from bookshop.pages import render
from bookshop.security import policy
from bookshop.session import CART, cart_entries, checkout_state, set_cart_entries
from bookshop.stock.availability import Availability, availabilities

blueprint = Blueprint("cart", __name__)

LEFT_THE_CATALOG = "A book in your cart is no longer sold, so we took it out."


def refusal(availability: Availability | None, in_cart: int, quantity: int) -> str | None:
    """Why `quantity` more copies can't go into a cart that has `in_cart` of the book already,
    for lack of copies; None when there are enough (or the book is not counted)."""
    if availability is None or in_cart + quantity <= availability.left:
        return None
    if availability.sold_out:
        return "Sold out: no copies of this book are left to buy."
    if in_cart:
        return f"Only {availability.left} left of this book, and your cart already has {in_cart}."
    return f"Only {availability.left} left of this book: you asked for {quantity}."


async def read_cart() -> tuple[Basket, bool]:
    """The session's cart priced from the catalog now, and whether a book that left the catalog
    was dropped from it (the session then forgets it)."""
    entries = cart_entries()
    if not entries:
        return Basket(), False
    known = await catalog().get_many(book_id for book_id, _ in entries)
    lines: list[Line] = []
    dropped = False
    for book_id, quantity in entries:
        book = known.get(book_id) if MIN_QUANTITY <= quantity <= MAX_QUANTITY else None
        if book is None or any(line.book.id == book_id for line in lines):
            dropped = True
            continue
        lines.append(line(book, quantity))
    basket = Basket(tuple(lines[:MAX_TITLES]))
    if dropped:
        write_cart(basket)
    return basket, dropped


def write_cart(basket: Basket) -> None:
    """Keep the cart in the session: ids and quantities only, never prices."""
    set_cart_entries([(line.book.id, line.quantity) for line in basket.lines])


def cart_count() -> int:
    """How many books the header says the cart holds (no session, no cookie: 0)."""
    return sum(
        quantity for _, quantity in cart_entries() if MIN_QUANTITY <= quantity <= MAX_QUANTITY
    )


@blueprint.get("/cart")
@policy(private=True)
async def page() -> Response:
    """The cart: its lines with quantity controls, the total, and the way to checkout."""
    basket, dropped = await read_cart()
    return await render_cart(basket, dropped)


@blueprint.post("/cart/add")
@policy()
async def add() -> Response | WerkzeugResponse:
    """Add copies of a book: the button's "Added" state for htmx, a 303 to the cart otherwise.
    More copies than are left (none, when sold out) are refused, as are the cart's limits."""
    form = await request.form
    if not form.get("book_id"):
        raise BadRequest("Choose a book to add to your cart.")
    book = await find_book(form["book_id"])
    quantity = parse_quantity(form.get("quantity"))
    basket, _ = await read_cart()
    had = basket.quantity_of(book.id)
    availability = (await availabilities([book.id])).get(book.id)
    # Copies first: a sold-out book is said to be so, whatever else the cart holds.
    refused = refusal(availability, had, quantity) or _over_limits(basket, had, quantity)
    if refused and htmx.wants_fragment():
        # The button stays, with the reason beside it: htmx swaps a 422 in place of the form.
        return await render(
            "cart/page.html",
            "cart/_add_form.html",
            status=422,
            book=book,
            availability=availability,
            refused=refused,
        )
    if refused:
        raise UnprocessableEntity(refused)
    basket = basket.with_quantity(book, had + quantity)
    write_cart(basket)
    if not htmx.wants_fragment():
        return redirect(url_for("cart.page"), code=303)
    response = await render(
        "cart/page.html",
        "cart/_added.html",
        book=book,
        availability=availability,
        count=basket.count,
    )
    return htmx.trigger(response, "cart:changed")


def _over_limits(basket: Basket, had: int, quantity: int) -> str | None:
    # The cart's own limits: so many titles, so many copies of one.
    if not had and len(basket.lines) >= MAX_TITLES:
        return f"Your cart can hold at most {MAX_TITLES} different books. Check out, or remove one."
    if had + quantity > MAX_QUANTITY:
        return (
            f"You can buy at most {MAX_QUANTITY} copies of a book at a time; your cart already "
            f"has {had} of this one."
        )
    return None


@blueprint.post("/cart/<book_id>")
@policy()
async def change(book_id: str) -> Response | WerkzeugResponse:
    """Set a line's quantity: the new summary for htmx, a 303 to the cart otherwise. A "Take"
    button (the copies left of a line that asked for more) sends `taken`: its line's title
    takes the keyboard's focus, as the button is gone."""
    book = await find_book(book_id)
    form = await request.form
    quantity = parse_quantity(form.get("quantity"))
    return await _changed(book, quantity, taken=bool(form.get("taken")))


@blueprint.post("/cart/<book_id>/remove")
@policy()
async def remove(book_id: str) -> Response | WerkzeugResponse:
    """Take a book out of the cart."""
    return await _changed(await find_book(book_id), 0)


async def _changed(book: Book, quantity: int, taken: bool = False) -> Response | WerkzeugResponse:
    basket, dropped = await read_cart()
    if not basket.quantity_of(book.id):
        raise NotFound("That book isn't in your cart (any more). Reload the cart to see it.")
    position = [each.book.id for each in basket.lines].index(book.id)
    basket = basket.with_quantity(book, quantity)
    write_cart(basket)
    if not htmx.wants_fragment():
        return redirect(url_for("cart.page"), code=303)
    if quantity:
        response = await render_cart(
            basket, dropped, changed=basket.lines[position], focus=book.id if taken else None
        )
    else:
        # The line is gone: the keyboard's focus moves to the line that took its place.
        after = basket.lines[position].book.id if position < len(basket.lines) else "heading"
        response = await render_cart(basket, dropped, removed=book, focus=after)
    return htmx.trigger(response, "cart:changed")


async def render_cart(
    basket: Basket,
    dropped: bool,
    *,
    changed: Line | None = None,
    removed: Book | None = None,
    focus: str | None = None,
) -> Response:
    """The cart page, or just its summary for htmx (with the header's count out of band, and
    what changed said aloud). Each line of a book with fewer copies left than it asks for says
    so, and offers what is left (one stock query for the whole cart)."""
    return await render(
        "cart/page.html",
        "cart/_summary.html",
        basket=basket,
        notice=LEFT_THE_CATALOG if dropped else None,
        count=basket.count,
        quantities=range(MIN_QUANTITY, MAX_QUANTITY + 1),
        availabilities=await availabilities(
            (line.book.id for line in basket.lines), checkout_state(CART)
        ),
        changed=changed,
        removed=removed,
        focus=focus,
    )
