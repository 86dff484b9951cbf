"""Checkout: the summary, the quantity form, paying, and the payment result."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, cast

from quart import Blueprint, Response, current_app, redirect, request, session, url_for
from werkzeug.exceptions import BadRequest, Conflict, NotFound, UnprocessableEntity
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.catalog import Book, default_catalog
from bookshop.htmx import wants_fragment
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

blueprint = Blueprint("checkout", __name__)

MIN_QUANTITY = 1
MAX_QUANTITY = 10
# Deliberately simple: one @, a dot in the domain, no spaces. Stripe validates receipt_email too.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
MAX_EMAIL_LENGTH = 254
INVALID_EMAIL = "Enter a valid email address, like name@example.com."


@dataclass
class CheckoutState:
    """What the browser session remembers about one book's checkout."""

    id: str
    intent_id: str | None = None


def payments() -> Payments:
    """The app's Stripe gateway."""
    return cast(Payments, current_app.extensions["payments"])


def parse_quantity(raw: str | None) -> int:
    """A quantity from a form or query: 400 when not a number, 422 when outside 1-10."""
    if raw is None or raw.strip() == "":
        return MIN_QUANTITY
    text = raw.strip()
    if not text.isdigit() or len(text) > 3:
        raise BadRequest("The quantity must be a whole number.")
    quantity = int(text)
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise UnprocessableEntity(
            f"You can buy from {MIN_QUANTITY} to {MAX_QUANTITY} copies of a book at a time."
        )
    return quantity


def parse_email(raw: str | None) -> str:
    """A receipt address, or a 422 that says what is wrong with it."""
    email = (raw or "").strip()
    if not email:
        raise UnprocessableEntity("Enter your email address for the receipt.")
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL.match(email):
        raise UnprocessableEntity(INVALID_EMAIL)
    return email


def find_book(book_id: str) -> Book:
    """The catalog's book, or a 404 that says so."""
    book = default_catalog().get(book_id)
    if book is None:
        raise NotFound("We don't sell that book (or the link is wrong).")
    return book


def load_state(book: Book) -> CheckoutState:
    """This browser session's checkout of the book, started if new."""
    saved = session.get("checkouts", {}).get(book.id)
    if isinstance(saved, dict) and isinstance(saved.get("id"), str):
        return CheckoutState(id=saved["id"], intent_id=saved.get("intent"))
    return CheckoutState(id=secrets.token_urlsafe(12))


def save_state(book: Book, state: CheckoutState) -> None:
    """Remember the checkout in the signed session cookie (ids only, never the client secret)."""
    checkouts = dict(session.get("checkouts", {}))
    checkouts[book.id] = {"id": state.id, "intent": state.intent_id}
    session["checkouts"] = checkouts


async def open_intent(book: Book, quantity: int) -> Intent:
    """The session's intent for this book, at this quantity (reused, updated or replaced)."""
    state = load_state(book)
    try:
        intent = await payments().open_checkout(book, quantity, state.id, state.intent_id)
    except IntentLocked:
        raise Conflict(
            "A payment for this book is being processed, so the quantity can't change now."
        ) from None
    await ledger().record_checkout(intent)
    if intent.id != state.intent_id:
        state.intent_id = intent.id
        save_state(book, state)
    return intent


@blueprint.get("/checkout")
async def legacy_checkout() -> WerkzeugResponse:
    """The starter's `/checkout?item=<id>` URL, kept working for old links."""
    book = find_book(request.args.get("item", ""))
    return redirect(url_for("checkout.page", book_id=book.id), code=301)


@blueprint.get("/checkout/<book_id>")
async def page(book_id: str) -> Response:
    """The checkout page for one book, with its PaymentIntent ready for the Payment Element."""
    book = find_book(book_id)
    quantity = parse_quantity(request.args.get("quantity"))
    try:
        intent: Intent | None = await open_intent(book, quantity)
    except PaymentsUnavailable:
        intent = None
    return await render_checkout(book, quantity, intent, status=200 if intent else 503)


@blueprint.post("/checkout/<book_id>/quantity")
async def change_quantity(book_id: str) -> Response | WerkzeugResponse:
    """Change the quantity: the new summary for htmx, a redirect (303) to the page otherwise."""
    book = find_book(book_id)
    form = await request.form
    quantity = parse_quantity(form.get("quantity"))
    page_url = url_for("checkout.page", book_id=book.id, quantity=quantity)
    if not wants_fragment():
        return redirect(page_url, code=303)  # the page itself updates the intent
    try:
        intent: Intent | None = await open_intent(book, quantity)
    except PaymentsUnavailable:
        intent = None
    response = await render_checkout(book, quantity, intent)
    # Keep the address bar in step so a reload shows the same quantity, and tell the Payment
    # Element to pick up the new amount.
    return htmx.trigger(htmx.replace_url(response, page_url), "checkout:amount-changed")


@blueprint.post("/checkout/<book_id>/pay")
async def prepare_payment(book_id: str) -> Response:
    """Just before the browser confirms: price the intent as the page shows it, set the email."""
    book = find_book(book_id)
    form = await request.form
    quantity = parse_quantity(form.get("quantity"))
    email = parse_email(form.get("email"))
    state = load_state(book)
    expired = Conflict("This checkout has expired. Reload the page to start again.")
    if state.intent_id is None:
        raise expired
    try:
        # The shopper pays for what their page shows, even if another tab changed the quantity.
        intent = await payments().prepare_payment(state.intent_id, book, quantity, email)
    except InvalidEmail:
        raise UnprocessableEntity(INVALID_EMAIL) from None
    except PaymentNotFound:
        raise expired from None
    except IntentLocked:
        raise Conflict(
            "This payment can't be changed any more. Reload the page to see where it stands."
        ) from None
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
    response = await render_outcome(payment, intent_id=intent_id, secret=client_secret)
    if payment.outcome == "succeeded" and wants_fragment():
        # The receipt replaces the payment area; a reload of the pushed URL shows it again.
        htmx.retarget(response, "#payment", swap="innerHTML")
        htmx.push_url(
            response,
            url_for(
                "checkout.success",
                payment_intent=intent_id,
                payment_intent_client_secret=client_secret,
            ),
        )
    return response


async def render_checkout(
    book: Book, quantity: int, intent: Intent | None, status: int = 200
) -> Response:
    """The checkout page, or just its summary for htmx."""
    return await render(
        "checkout/page.html",
        "checkout/_summary.html",
        status=status,
        book=book,
        quantity=quantity,
        quantities=range(MIN_QUANTITY, MAX_QUANTITY + 1),
        total=book.price * quantity,
        intent=intent,
        payments=payments(),
    )


async def render_outcome(
    payment: Intent | None, status: int = 200, intent_id: str = "", secret: str = ""
) -> Response:
    """A payment result; no payment means the payment provider could not be reached."""
    context: dict[str, Any] = {
        "payment": payment,
        "outcome": payment.outcome if payment else None,
        "book": default_catalog().get(payment.book_id) if payment else None,
        "status_url": url_for(
            "checkout.payment_status", payment_intent=intent_id, payment_intent_client_secret=secret
        )
        if intent_id
        else None,
    }
    return await render("checkout/result.html", "checkout/_result.html", status=status, **context)
