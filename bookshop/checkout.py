"""Checkout: where the books go, the cart's or one book's summary, paying, and the result."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from quart import Blueprint, Response, current_app, redirect, request, session, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    UnprocessableEntity,
)
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.address import (
    country_choices,
    read_form,
    required_fields,
    save_address,
    saved_address,
    uses_state,
)
from bookshop.basket import MAX_QUANTITY, MIN_QUANTITY, Basket, one_book, paid_basket
from bookshop.cart import LEFT_THE_CATALOG, read_cart, write_cart
from bookshop.catalog import Book, catalog
from bookshop.config import Settings
from bookshop.forms import (
    INVALID_EMAIL,
    find_book,
    parse_amount,
    parse_email,
    parse_quantity,
    whole_number,
)
from bookshop.orders import ledger
from bookshop.pages import render
from bookshop.payments import (
    Intent,
    IntentLocked,
    InvalidEmail,
    PaymentNotFound,
    Payments,
    PaymentsUnavailable,
)
from bookshop.shipping import default_rates

blueprint = Blueprint("checkout", __name__)

# The session's checkout of the cart; a "buy now" checkout of one book is kept under its id.
CART = "cart"
CHANGED = (
    "Your order changed since this page was shown (in another window, or a new price). "
    "Check the total, then press Pay again."
)
UNAVAILABLE = "We couldn't reach our payment provider. You have not been charged."


@dataclass
class CheckoutState:
    """What the browser session remembers about one checkout (the cart's, or one book's)."""

    id: str
    intent_id: str | None = None


def payments() -> Payments:
    """The app's Stripe gateway."""
    return cast(Payments, current_app.extensions["payments"])


def load_state(key: str) -> CheckoutState:
    """This browser session's checkout under `key`, started if new."""
    saved = session.get("checkouts", {}).get(key)
    if isinstance(saved, dict) and isinstance(saved.get("id"), str):
        return CheckoutState(id=saved["id"], intent_id=saved.get("intent"))
    return CheckoutState(id=secrets.token_urlsafe(12))


def save_state(key: str, state: CheckoutState | None) -> None:
    """Remember (or, given None, forget) a checkout in the signed session cookie: ids only, never
    the client secret."""
    checkouts = dict(session.get("checkouts", {}))
    if state is None:
        checkouts.pop(key, None)
    else:
        checkouts[key] = {"id": state.id, "intent": state.intent_id}
    session["checkouts"] = checkouts


async def open_intent(key: str, basket: Basket) -> Intent:
    """The session's intent for a checkout, priced for the basket: reused (and updated) while
    payable, as it is once processing or paid, else a new one."""
    state = load_state(key)
    intent = await payments().open_checkout(basket, state.id, state.intent_id)
    if intent.payable:
        await ledger().record_checkout(intent)
    if intent.id != state.intent_id:
        state.intent_id = intent.id
        save_state(key, state)
    return intent


async def intent_or_none(key: str, basket: Basket) -> Intent | None:
    """`open_intent`, or None when Stripe can't be reached (the page then says so, with a 503)."""
    try:
        return await open_intent(key, basket)
    except PaymentsUnavailable:
        return None


async def ordered(intent: Intent) -> Basket:
    """What an intent pays for: its lines at the prices confirmed, its delivery and address."""
    return paid_basket(
        ((each.book_id, each.quantity, each.unit_price) for each in intent.lines),
        await catalog().get_many(each.book_id for each in intent.lines),
        intent.shipping,
        intent.address,
    )


def elsewhere(url: str) -> Response | WerkzeugResponse:
    """Send the shopper to another page: a full page load for htmx and checkout.js (a 409 that
    says where to go), a 303 for a plain form."""
    if htmx.wants_fragment():
        return htmx.redirect(Response(status=409), url)
    return redirect(url, code=303)


def delivered(books: Basket) -> Basket | None:
    """The books going to the session's address, with what delivery there costs; None until
    the shopper has said where they go (or when the shop no longer delivers there)."""
    rates = default_rates()
    address = saved_address(rates)
    zone = rates.zone(address.country) if address is not None else None
    if address is None or zone is None:
        return None
    return books.delivered(address, zone.cost(books.count, books.subtotal))


def started_here() -> set[str]:
    """The ids of the checkouts this browser session has open."""
    checkouts = session.get("checkouts", {})
    return {saved["id"] for saved in checkouts.values() if isinstance(saved, dict)}


async def forget_paid(payment: Intent) -> None:
    """One of this session's checkouts was paid: it starts afresh, so the next visit is a new
    order. A paid cart's books leave the cart (those added meanwhile stay); the address leaves
    the session once the cart is empty, as it stays there only until paid."""
    books, _ = await read_cart()
    for key, saved in list(session.get("checkouts", {}).items()):
        if not isinstance(saved, dict) or saved.get("id") != payment.checkout_id:
            continue
        if key == CART:
            paid: dict[str, int] = {}
            for each in payment.lines:
                paid[each.book_id] = paid.get(each.book_id, 0) + each.quantity
            books = books.less(paid)
            write_cart(books)
        save_state(key, None)
    if not books.lines:
        save_address(None)


def result_url(intent: Intent, *, fragment: bool = False) -> str:
    """Where a payment's result is shown (the full page, or the fragment htmx polls)."""
    return url_for(
        "checkout.payment_status" if fragment else "checkout.success",
        payment_intent=intent.id,
        payment_intent_client_secret=intent.client_secret,
    )


@blueprint.get("/checkout")
async def cart() -> Response | WerkzeugResponse:
    """Checkout of the cart: its lines and the payment form. (`?item=<id>` is the starter's
    old link to one book's checkout, kept working.)"""
    item = request.args.get("item")
    if item is not None:
        return redirect(url_for("checkout.page", book_id=(await find_book(item)).id), code=301)
    books, dropped = await read_cart()
    if not books.lines:
        return redirect(url_for("cart.page"), code=303)
    basket = delivered(books)
    if basket is None:
        return redirect(url_for("checkout.address", next=url_for("checkout.cart")), code=303)
    intent = await intent_or_none(CART, basket)
    if intent is not None and intent.status == "succeeded":
        # Paid, though its result page was never seen (a closed tab): the cart is done.
        await forget_paid(intent)
        return redirect(result_url(intent), code=303)
    notice = LEFT_THE_CATALOG if dropped else None
    return await render_checkout(basket, intent, notice=notice, status=200 if intent else 503)


@blueprint.get("/checkout/address")
async def address() -> Response:
    """Where the books go: the address form, filled with the session's address if it has one."""
    saved = saved_address(default_rates())
    values = asdict(saved) if saved is not None else {}
    return await render_address(values, {}, await next_url(request.args.get("next")))


@blueprint.post("/checkout/address")
async def save_delivery_address() -> Response | WerkzeugResponse:
    """Check the address: messages beside each field (422) or on to the checkout (303)."""
    form = await request.form
    target = await next_url(form.get("next"))
    settings: Settings = current_app.extensions["settings"]
    checked = read_form(form, default_rates(), settings.locale)
    if form.get("refresh"):
        # The country changed (htmx): the form for that country, no messages yet.
        return await render_address(checked.values, {}, target)
    if checked.address is None:
        return await render_address(checked.values, checked.errors, target, status=422)
    save_address(checked.address)
    if htmx.wants_fragment():
        return htmx.redirect(Response(status=204), target)
    return redirect(target, code=303)


async def next_url(raw: str | None) -> str:
    """Where the address step leads: a checkout of this shop (the cart's by default), never
    another site. `url_for` puts back the root path the shop is served under."""
    parts = urlsplit(raw or "")
    root = request.root_path.rstrip("/")
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{root}/checkout"):
        return url_for("checkout.cart")
    try:
        path = parts.path.removeprefix(root)
        endpoint, values = current_app.url_map.bind("").match(path, method="GET")
    except (HTTPException, RequestRedirect):
        return url_for("checkout.cart")
    if endpoint == "checkout.page" and await catalog().get(values["book_id"]) is not None:
        quantity = whole_number(dict(parse_qsl(parts.query)).get("quantity"), 3)
        if quantity is not None and MIN_QUANTITY <= quantity <= MAX_QUANTITY:
            return url_for(endpoint, book_id=values["book_id"], quantity=quantity)
        return url_for(endpoint, book_id=values["book_id"])
    return url_for("checkout.cart")


async def render_address(
    values: dict[str, str], errors: dict[str, str], target: str, status: int = 200
) -> Response:
    """The address step, or just its form for htmx."""
    settings: Settings = current_app.extensions["settings"]
    country = values.get("country", "")
    return await render(
        "checkout/address.html",
        "checkout/_address_form.html",
        status=status,
        values=values,
        errors=errors,
        next=target,
        countries=country_choices(default_rates(), settings.locale),
        uses_state=uses_state(country),
        required=required_fields(country),
    )


@blueprint.post("/checkout/pay")
async def prepare_cart_payment() -> Response | WerkzeugResponse:
    """Just before the browser confirms the cart's payment: see `prepare`."""
    books, _ = await read_cart()
    return await prepare(CART, books, await request.form)


@blueprint.get("/checkout/<book_id>")
async def page(book_id: str) -> Response | WerkzeugResponse:
    """Buy one book now: its checkout page, with the PaymentIntent ready for the Payment Element."""
    if book_id == "pay":
        # The cart's pay step matches this rule too: answer as routing alone would (405).
        (rule,) = current_app.url_map.iter_rules("checkout.prepare_cart_payment")
        raise MethodNotAllowed(valid_methods=sorted(rule.methods or ()))
    book = await find_book(book_id)
    quantity = parse_quantity(request.args.get("quantity"))
    basket = delivered(one_book(book, quantity))
    if basket is None:
        here = checkout_url(book, quantity)
        return redirect(url_for("checkout.address", next=here), code=303)
    intent = await intent_or_none(book.id, basket)
    if intent is not None and intent.status == "succeeded":
        # Paid, though its result page was never seen (a closed tab, Back): show it once, as the
        # cart does; forgotten now, the next visit is a new order.
        await forget_paid(intent)
        return redirect(result_url(intent), code=303)
    return await render_checkout(basket, intent, book=book, status=200 if intent else 503)


@blueprint.post("/checkout/<book_id>/quantity")
async def change_quantity(book_id: str) -> Response | WerkzeugResponse:
    """Change the quantity: the new summary for htmx, a redirect (303) to the page otherwise."""
    book = await find_book(book_id)
    quantity = parse_quantity((await request.form).get("quantity"))
    page_url = checkout_url(book, quantity)
    basket = delivered(one_book(book, quantity))
    if not htmx.wants_fragment():
        return redirect(page_url, code=303)  # the page itself updates the intent
    if basket is None:
        # A full page load, which asks for the address (a 303 would be swapped in as a summary).
        return htmx.redirect(Response(status=204), page_url)
    intent = await intent_or_none(book.id, basket)
    if intent is not None and intent.status == "succeeded":
        # Paid in another tab: its receipt, as a page load (and the plain path's 303s) shows.
        await forget_paid(intent)
        return htmx.redirect(Response(status=204), result_url(intent))
    notice, status = (None, 200) if intent else (UNAVAILABLE, 503)
    response = await render_checkout(basket, intent, book=book, notice=notice, status=status)
    # Keep the address bar in step so a reload shows the same quantity, and tell the Payment
    # Element to pick up the new amount.
    return htmx.trigger(htmx.replace_url(response, page_url), "checkout:amount-changed")


@blueprint.post("/checkout/<book_id>/pay")
async def prepare_payment(book_id: str) -> Response | WerkzeugResponse:
    """Just before the browser confirms one book's payment: see `prepare`."""
    book = await find_book(book_id)
    form = await request.form
    return await prepare(book.id, one_book(book, parse_quantity(form.get("quantity"))), form)


async def prepare(
    key: str, books: Basket, form: MultiDict[str, str]
) -> Response | WerkzeugResponse:
    """Price the intent for exactly what the shopper's page shows (books, delivery, address) and
    set the receipt address, then let the browser confirm (204). A page that shows another order
    than the one the session holds now (another tab, a new price, a new address) gets the fresh
    summary instead (409), and nobody is charged for what they did not see."""
    email = parse_email(form.get("email"))
    shown_total = parse_amount(form.get("total"))
    if not books.lines:
        return elsewhere(url_for("cart.page"))  # emptied meanwhile (another tab): nothing to pay
    book = books.lines[0].book if key != CART else None
    state = load_state(key)
    expired = Conflict("This checkout has expired. Reload the page to start again.")
    locked = Conflict(
        "This payment can't be changed any more. Reload the page to see where it stands."
    )
    if state.intent_id is None:
        raise expired
    try:
        current = await payments().intent(state.intent_id)
    except PaymentNotFound:
        raise expired from None
    except PaymentsUnavailable:
        return await render_outcome(None, status=503)
    if not current.payable:
        raise locked
    # Once confirmed (3D Secure under way) an intent pays for what was confirmed, as its page
    # shows (render_checkout); paying again may retry the card, never change the order.
    basket = delivered(books) if current.changeable or not current.lines else await ordered(current)
    if basket is None:
        # The address left the session meanwhile (another tab's order was paid): ask again.
        here = checkout_url(book, books.lines[0].quantity)
        return elsewhere(url_for("checkout.address", next=here))
    if (
        form.get("lines") != basket.key
        or form.get("destination") != basket.destination
        or shown_total != basket.total
    ):
        response = await render_checkout(basket, current, book=book, notice=CHANGED, status=409)
        return htmx.retarget(response, "#checkout-summary", swap="innerHTML")
    try:
        intent = await payments().prepare_payment(current.id, basket, email)
    except InvalidEmail:
        raise UnprocessableEntity(INVALID_EMAIL) from None
    except PaymentNotFound:
        raise expired from None
    except IntentLocked:
        raise locked from None
    except PaymentsUnavailable:
        return await render_outcome(None, status=503)
    await ledger().record_checkout(intent)
    return Response(status=204)


@blueprint.get("/payment/status")
@blueprint.get("/success", endpoint="success")
async def payment_status() -> Response:
    """The payment result, read on the server: a fragment for htmx, a full page otherwise."""
    intent_id = request.args.get("payment_intent", "")
    client_secret = request.args.get("payment_intent_client_secret", "")
    if not intent_id or not client_secret:
        raise BadRequest("This payment link is incomplete: it needs the payment reference.")
    if len(intent_id) > 100 or len(client_secret) > 200:
        raise NotFound("We couldn't find that payment.")
    try:
        payment = await payments().payment_result(intent_id, client_secret)
    except PaymentNotFound:
        raise NotFound("We couldn't find that payment.") from None
    except PaymentsUnavailable:
        return await render_outcome(None, status=503, intent_id=intent_id, secret=client_secret)
    if payment.outcome == "succeeded":
        await ledger().mark_paid(payment)  # the receipt and the ledger never disagree
        if payment.checkout_id in started_here():
            await forget_paid(payment)
    response = await render_outcome(payment, intent_id=intent_id, secret=client_secret)
    if payment.outcome == "succeeded" and htmx.wants_fragment():
        # The receipt replaces the payment area; a reload of the pushed URL shows it again.
        htmx.retarget(response, "#payment", swap="innerHTML")
        htmx.push_url(response, result_url(payment))
    return response


async def render_checkout(
    basket: Basket,
    intent: Intent | None,
    *,
    book: Book | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """A checkout page (the cart's, or one book's when `book` is given), or its summary for htmx.
    An intent the shopper has confirmed shows what it pays for, whatever the cart holds now."""
    if intent is not None and not intent.changeable and intent.lines:
        basket = await ordered(intent)
    quantity = basket.lines[0].quantity if book is not None and basket.lines else MIN_QUANTITY
    address = basket.address
    return await render(
        "checkout/page.html",
        "checkout/_summary.html",
        status=status,
        basket=basket,
        book=book,
        quantity=quantity,
        quantities=range(MIN_QUANTITY, MAX_QUANTITY + 1),
        intent=intent,
        notice=notice,
        payments=payments(),
        pay_url=url_for("checkout.prepare_payment", book_id=book.id)
        if book is not None
        else url_for("checkout.prepare_cart_payment"),
        status_url=result_url(intent, fragment=True) if intent is not None else None,
        zone=default_rates().zone(address.country) if address is not None else None,
        here=checkout_url(book, quantity),
    )


def checkout_url(book: Book | None, quantity: int) -> str:
    """The checkout page of one book bought now, or of the cart."""
    if book is None:
        return url_for("checkout.cart")
    return url_for("checkout.page", book_id=book.id, quantity=quantity)


async def render_outcome(
    payment: Intent | None, status: int = 200, intent_id: str = "", secret: str = ""
) -> Response:
    """A payment result; no payment means the payment provider could not be reached."""
    context: dict[str, Any] = {
        "payment": payment,
        "outcome": payment.outcome if payment else None,
        "order": await ordered(payment) if payment else None,
        "back_url": back_url(payment) if payment else None,
        "status_url": url_for(
            "checkout.payment_status", payment_intent=intent_id, payment_intent_client_secret=secret
        )
        if intent_id
        else None,
    }
    return await render("checkout/result.html", "checkout/_result.html", status=status, **context)


def back_url(payment: Intent) -> str:
    """Where "back to the checkout" leads from a payment's result."""
    if payment.checkout_id == load_state(CART).id or len(payment.lines) != 1:
        return url_for("checkout.cart")
    line = payment.lines[0]
    return url_for("checkout.page", book_id=line.book_id, quantity=line.quantity)
