"""The checkout pages: the order's summary and the payment form, for the cart or a book bought
now. A page view asks nothing of Stripe: the Payment Element needs only the amount, and the
PaymentIntent is made when the shopper presses Pay (`pay.py`). A line asking for more copies
than are left says so, and offers what is left ("Take 2"), or to remove it when sold out."""

from __future__ import annotations

from collections.abc import Mapping

from quart import Response, current_app, redirect, request, url_for
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.basket import MAX_QUANTITY, MIN_QUANTITY, Basket, Line
from bookshop.cart import LEFT_THE_CATALOG, read_cart, write_cart
from bookshop.catalog import Book
from bookshop.checkout.blueprint import blueprint
from bookshop.checkout.checkouts import (
    Checkout,
    address_step,
    book_checkout,
    cart_checkout,
    delivered,
    forget_paid,
    result_url,
)
from bookshop.forms import find_book, parse_quantity
from bookshop.orders import ledger
from bookshop.orders.schema import PAID
from bookshop.pages import render
from bookshop.payments import Intent, PaymentNotFound, PaymentsUnavailable, payments
from bookshop.security import policy
from bookshop.session import checkout_state
from bookshop.shipping import default_rates
from bookshop.stock.availability import Availability, availabilities


@blueprint.get("/checkout")
@policy(private=True)
async def cart() -> Response | WerkzeugResponse:
    """Checkout of the cart: its lines and the payment form. (`?item=<id>` is the starter's
    old link to one book's checkout, kept working.)"""
    item = request.args.get("item")
    if item is not None:
        book = await find_book(item)
        return redirect(url_for("checkout.page", book_id=book.id), code=301)
    checkout = await cart_checkout()
    if not checkout.books.lines:
        return redirect(url_for("cart.page"), code=303)
    return await show(checkout)


@blueprint.get("/checkout/<book_id>")
@policy(private=True)
async def page(book_id: str) -> Response | WerkzeugResponse:
    """Buy one book now: its summary and the payment form."""
    if book_id == "pay":
        # The cart's pay step matches this rule too: answer as routing alone would (405).
        (rule,) = current_app.url_map.iter_rules("checkout.pay_cart")
        raise MethodNotAllowed(valid_methods=sorted(rule.methods or ()))
    return await show(await book_checkout(book_id, request.args.get("quantity")))


@blueprint.post("/checkout/<book_id>/quantity")
@policy(private=True)
async def change_quantity(book_id: str) -> Response | WerkzeugResponse:
    """Change the quantity: the new summary for htmx, a redirect (303) to the page otherwise.
    The "Take" button (the copies left, when fewer than asked for) sends `taken`: the quantity
    select then takes the keyboard's focus, as the button is gone."""
    form = await request.form
    checkout = await book_checkout(book_id, form.get("quantity"))
    if not htmx.wants_fragment():
        return redirect(checkout.page_url, code=303)
    basket = delivered(checkout.books)
    paid = await paid_unseen(checkout)
    if basket is None or paid is not None:
        # A full page load: the address step, or the receipt of a payment made in another tab.
        target = result_url(paid) if paid is not None else checkout.page_url
        return htmx.redirect(Response(status=204), target)
    response = await render_checkout(
        checkout, basket, quantity_changed=True, focus="quantity" if form.get("taken") else None
    )
    # Keep the address bar in step so a reload shows the same quantity, and tell the Payment
    # Element the new amount.
    return htmx.trigger(htmx.replace_url(response, checkout.page_url), "checkout:amount-changed")


@blueprint.post("/checkout/cart/<book_id>/quantity")
@policy(private=True)
async def take_in_cart(book_id: str) -> Response | WerkzeugResponse:
    """The cart's checkout: a line takes the copies left ("Take 2"). The new summary for htmx
    (the line's title takes the focus), a 303 to the checkout otherwise."""
    book = await find_book(book_id)
    return await _cart_line_changed(book, parse_quantity((await request.form).get("quantity")))


@blueprint.post("/checkout/cart/<book_id>/remove")
@policy(private=True)
async def remove_from_cart(book_id: str) -> Response | WerkzeugResponse:
    """The cart's checkout: a sold-out line leaves the cart. The new summary for htmx (the next
    line's title, or the order's heading, takes the focus), a 303 to the checkout otherwise."""
    return await _cart_line_changed(await find_book(book_id), 0)


async def _cart_line_changed(book: Book, quantity: int) -> Response | WerkzeugResponse:
    books, _ = await read_cart()
    if not books.quantity_of(book.id):
        raise NotFound("That book isn't in your cart (any more). Reload the page to see it.")
    position = [each.book.id for each in books.lines].index(book.id)
    write_cart(books.with_quantity(book, quantity))
    if not htmx.wants_fragment():
        return redirect(url_for("checkout.cart"), code=303)  # emptied: it sends on to the cart
    checkout = await cart_checkout()
    basket = delivered(checkout.books)
    paid = await paid_unseen(checkout) if basket is not None else None
    if not checkout.books.lines or basket is None or paid is not None:
        # A full page load: the empty cart, the address step, or a receipt from another tab.
        if paid is not None:
            target = result_url(paid)
        else:
            target = url_for("cart.page") if not checkout.books.lines else checkout.page_url
        return htmx.redirect(Response(status=204), target)
    if quantity:
        focus = book.id
        changed = next(line for line in basket.lines if line.book.id == book.id)
    else:
        lines = basket.lines
        focus = lines[position].book.id if position < len(lines) else "heading"
        changed = None
    response = await render_checkout(
        checkout,
        basket,
        line_changed=changed,
        removed=None if quantity else book,
        focus=focus,
    )
    return htmx.trigger(response, "checkout:amount-changed")


async def show(checkout: Checkout) -> Response | WerkzeugResponse:
    """A checkout's page, once the shopper has said where the books go."""
    basket = delivered(checkout.books)
    if basket is None:
        return redirect(address_step(checkout), code=303)
    paid = await paid_unseen(checkout)
    if paid is not None:
        # Paid, though its result page was never seen (a closed tab, Back): show it once;
        # forgotten now, the next visit is a new order.
        return redirect(result_url(paid), code=303)
    notice = LEFT_THE_CATALOG if checkout.dropped else None
    return await render_checkout(checkout, basket, notice=notice)


async def paid_unseen(checkout: Checkout) -> Intent | None:
    """The checkout's payment when the ledger has it paid and the session still holds the
    checkout (its result never seen, or its answer lost with a closed tab). Only then is Stripe
    asked, for the receipt's client secret."""
    state = checkout.state
    if state.intent_id is not None:
        order = await ledger().get(state.intent_id)
    else:
        order = await ledger().checkout_order(state.id)
    if order is None or order.status != PAID:
        return None
    intent_id = order.intent_id
    try:
        intent = await payments().intent(intent_id)
    except (PaymentNotFound, PaymentsUnavailable):
        return None
    if intent.status != "succeeded" or intent.checkout_id != state.id:
        return None
    await forget_paid(intent)
    return intent


async def render_checkout(
    checkout: Checkout,
    basket: Basket,
    *,
    notice: str | None = None,
    status: int = 200,
    confirmed: Intent | None = None,
    quantity_changed: bool = False,
    line_changed: Line | None = None,
    removed: Book | None = None,
    focus: str | None = None,
    left: Mapping[str, int] | None = None,
) -> Response:
    """A checkout's page, or its summary for htmx. `confirmed`: an intent the shopper has
    confirmed (3D Secure under way), whose summary shows what it pays for, read only.
    `line_changed`/`removed`: a cart's line just changed or removed here (said aloud), `focus`:
    what takes the keyboard's focus ("quantity", a book's line, "heading"). `left`: copies left
    the caller knows fresher than the shop's half-second cache (the pay step's `Short.left`)."""
    address = basket.address
    # A confirmed buy-now pays for its own copies, whatever the stale page asked for.
    quantity = basket.lines[0].quantity if checkout.book and basket.lines else checkout.quantity
    available: dict[str, Availability] = {}
    if confirmed is None or confirmed.changeable:
        # What is left matters only to an order that can still change (a confirmed one pays for
        # copies it holds already).
        available = await availabilities(
            (line.book.id for line in basket.lines), checkout_state(checkout.key)
        )
        available.update({book: Availability(copies) for book, copies in (left or {}).items()})
    return await render(
        "checkout/page.html",
        "checkout/_summary.html",
        status=status,
        basket=basket,
        book=checkout.book,
        quantity=quantity,
        quantities=range(MIN_QUANTITY, MAX_QUANTITY + 1),
        intent=confirmed,
        notice=notice,
        quantity_changed=quantity_changed,
        availabilities=available,
        line_changed=line_changed,
        removed=removed,
        focus=focus,
        payments=payments(),
        pay_url=checkout.pay_url,
        zone=default_rates().zone(address.country) if address is not None else None,
        here=checkout.page_url,
    )
