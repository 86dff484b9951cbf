"""The pay step: the shop checks what the page shows against the order, then creates and
confirms the PaymentIntent itself with the shopper's ConfirmationToken, so what is charged is
exactly what it checked (amount, lines, where the books go)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from quart import Response, current_app, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, Conflict, UnprocessableEntity
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.basket import Basket
from bookshop.checkout.blueprint import blueprint
from bookshop.checkout.checkouts import (
    Checkout,
    address_step,
    book_checkout,
    cart_checkout,
    delivered,
    elsewhere,
    forget_paid,
    ordered,
    result_url,
)
from bookshop.checkout.pages import render_checkout
from bookshop.checkout.results import receipt_response, render_outcome
from bookshop.config import Settings
from bookshop.forms import INVALID_EMAIL, parse_amount, parse_email
from bookshop.orders import Ledger, ledger
from bookshop.pages import absolute_url, render
from bookshop.payments import (
    Intent,
    IntentLocked,
    InvalidEmail,
    PaymentNotFound,
    PaymentsUnavailable,
    payments,
)
from bookshop.security import PAY, policy
from bookshop.stock import Short, stock

CONFIRMATION_TOKEN = re.compile(r"ctoken_[A-Za-z0-9]{1,64}")
CHANGED = (
    "Your order changed since this page was shown (in another window, or a new price). "
    "Check the total, then press Pay again."
)
SPENT = "Your card details have expired. Nothing was charged: press Pay again."
ELSEWHERE = (
    "The payment form asked to send your books to another address than the one you gave us. "
    "Nothing was charged: reload the page and press Pay again."
)
# How far before an unanswered Pay its intent may have been created (clocks differ a little).
UNANSWERED_MARGIN_S = 300
SHORT = "Nothing was charged: change your order, then press Pay again."
LOCKED = "This payment can't be changed any more. Reload the page to see where it stands."


@blueprint.post("/checkout/pay")
@policy(private=True, secret=True, rate_limit=PAY)
async def pay_cart() -> Response | WerkzeugResponse:
    """Pay for the cart: see `pay`."""
    return await pay(await cart_checkout(), await request.form)


@blueprint.post("/checkout/<book_id>/pay")
@policy(private=True, secret=True, rate_limit=PAY)
async def pay_book(book_id: str) -> Response | WerkzeugResponse:
    """Pay for one book bought now: see `pay`."""
    form = await request.form
    return await pay(await book_checkout(book_id, form.get("quantity")), form)


async def pay(checkout: Checkout, form: MultiDict[str, str]) -> Response | WerkzeugResponse:
    """Charge exactly what the shopper's page shows, or say why not (nothing charged): a page
    that shows another order than the session's now gets the fresh summary (409); a spent token,
    or one that would ship elsewhere, is refused (422). The answer is the result: the receipt,
    the decline, or what the page needs to run 3D Secure."""
    email = parse_email(form.get("email"))
    shown_total = parse_amount(form.get("total"))
    token_id = form.get("confirmation_token", "")
    if not CONFIRMATION_TOKEN.fullmatch(token_id):
        raise BadRequest("The payment form sent no card details. Reload the page.")
    if not checkout.books.lines:
        return elsewhere(url_for("cart.page"))  # emptied meanwhile (another tab): nothing to pay
    basket = delivered(checkout.books)
    if basket is None:
        # The address left the session meanwhile (another tab's order was paid): ask again.
        return elsewhere(address_step(checkout))
    try:
        current = await own_intent(checkout)
    except PaymentsUnavailable:
        return await render_outcome(None, status=503)
    state = checkout.state
    confirmed = None
    if current is not None:
        if current.status == "succeeded":
            await forget_paid(current)
            return elsewhere(result_url(current))  # paid in another tab
        if not current.payable:
            raise Conflict(LOCKED)
        if not current.changeable:
            # Confirmed already (3D Secure under way): paying again may retry the card, never
            # change the order.
            basket, confirmed = await ordered(current), current
    if (
        form.get("lines") != basket.key
        or form.get("destination") != basket.destination
        or shown_total != basket.total
    ):
        response = await render_checkout(
            checkout, basket, notice=CHANGED, status=409, confirmed=confirmed
        )
        return htmx.retarget(response, "#checkout-summary", swap="innerHTML")
    try:
        token = await payments().confirmation_token(token_id)
    except PaymentNotFound:
        raise UnprocessableEntity(SPENT) from None
    except PaymentsUnavailable:
        return await render_outcome(None, status=503)  # nothing was sent to charge
    if token.used or token.expires_at <= time.time():
        raise UnprocessableEntity(SPENT)
    if token.address is not None and token.address != basket.address:
        raise UnprocessableEntity(ELSEWHERE)
    settings: Settings = current_app.extensions["settings"]
    try:
        # The copies first: a book gone meanwhile is said before anything is charged.
        await stock().reserve(
            state.id,
            [(line.book.id, line.quantity) for line in basket.lines],
            datetime.now(UTC) + timedelta(minutes=settings.reservation_minutes),
        )
    except Short as short:
        response = await render_checkout(
            checkout,
            basket,
            notice=short_notice(basket, short),
            status=409,
            confirmed=confirmed,
            left=short.left,
        )
        return htmx.retarget(response, "#checkout-summary", swap="innerHTML")
    try:
        # Shielded: a shopper who closes the tab mid-Pay does not cancel a charge under way,
        # and the ledger still hears of it (the next visit finds it by the checkout's id).
        paying = payments().pay(
            basket, state.id, token.id, email, absolute_url(url_for("checkout.success")), current
        )
        intent = await asyncio.shield(recorded(paying, ledger()))
    except (PaymentNotFound, InvalidEmail, IntentLocked) as refused:
        await stock().release(state.id, checkout_id=state.id)  # nothing was charged
        if isinstance(refused, InvalidEmail):
            raise UnprocessableEntity(INVALID_EMAIL) from None
        if isinstance(refused, IntentLocked):
            raise Conflict(LOCKED) from None
        raise UnprocessableEntity(SPENT) from None
    except PaymentsUnavailable:
        if current is None:
            # Stripe may have made and charged the intent though its answer never came: the
            # next Pay looks for it before making another.
            state.unanswered_since = int(time.time())
            checkout.keep(state)
        return await render_outcome(None, status=503)
    if intent.id != state.intent_id or state.unanswered_since is not None:
        state.intent_id, state.unanswered_since = intent.id, None
        checkout.keep(state)
    if intent.status == "succeeded":
        await forget_paid(intent)
        return await receipt_response(intent)
    if intent.status == "requires_action":
        # The one answer that carries the client secret: Stripe.js needs it for 3D Secure.
        return await render(
            "checkout/_next_action.html",
            payment=intent,
            status_url=result_url(intent, fragment=True),
        )
    return await render_outcome(intent, status=402 if intent.outcome == "declined" else 200)


async def recorded(paying: Awaitable[Intent], orders: Ledger) -> Intent:
    """Stripe's answer to a Pay, once the ledger has it (and the copies held for the checkout
    know the intent paying for them: a decline then releases them, expiry cancels it)."""
    intent = await paying
    if intent.checkout_id:
        await orders.stock.attach(intent.checkout_id, intent.id)
    await orders.record_payment(intent)
    return intent


def short_notice(basket: Basket, short: Short) -> str:
    """What the shopper reads when books ran out before paying: each short line and how many
    copies are left, and that nothing was charged."""
    said = []
    for line in basket.lines:
        left = short.left.get(line.book.id)
        if left is None:
            continue
        if left == 0:
            said.append(f"{line.book.title} is sold out")
        else:
            copies = "copy is" if left == 1 else "copies are"
            said.append(f"only {left} {copies} left of {line.book.title}")
    text = "; ".join(said)
    return f"{text[:1].upper()}{text[1:]}. {SHORT}"


async def own_intent(checkout: Checkout) -> Intent | None:
    """The intent of this checkout's earlier Pay (declined, or 3D Secure under way), as Stripe
    has it now; None when there is none to reuse. An intent of another checkout (a forged or
    stale session) is never touched, and a canceled one is replaced."""
    state = checkout.state
    if state.intent_id is None:
        # A Pay whose answer never reached the browser, written to the ledger all the same.
        found = await ledger().checkout_order(state.id)
        if found is not None:
            state.intent_id, state.unanswered_since = found.intent_id, None
            checkout.keep(state)
    if state.intent_id is None and state.unanswered_since is not None:
        since = datetime.fromtimestamp(state.unanswered_since - UNANSWERED_MARGIN_S, UTC)
        lost = await payments().checkout_intent(state.id, since)
        state.intent_id, state.unanswered_since = (lost.id if lost else None), None
        checkout.keep(state)
    if state.intent_id is None:
        return None
    try:
        current = await payments().intent(state.intent_id)
    except PaymentNotFound:
        return None
    if current.checkout_id != state.id or current.status == "canceled":
        return None
    return current
