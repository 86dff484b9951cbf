"""Refunding an order from its page: books or an amount chosen, a confirmation that carries a
one-time key, then the refund at Stripe and its record in the ledger.

The key makes a refund happen once end to end: Stripe refunds once per idempotency key (a second
submit of the same confirmation, after a double click, the back button or a timeout, gets the
first answer again), and the ledger writes the refund's audit entry, stock moves and order
change once per key (`Ledger.refunded`).
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from quart import Response, current_app, redirect, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.admin import audit
from bookshop.admin.blueprint import acting, blueprint, current_staff
from bookshop.admin.orders import order_context
from bookshop.admin.schema import OWNER, audit_log
from bookshop.config import Settings
from bookshop.forms import whole_number
from bookshop.money import format_money, parse_money
from bookshop.orders import Order, ledger
from bookshop.orders.schema import PAID, REFUNDED, SETTLED
from bookshop.orders.staff import Audit, RefundedCopies, StaffRefund, subject
from bookshop.pages import render
from bookshop.payments import PaymentNotFound, PaymentsUnavailable, RefundRefused, payments
from bookshop.security import policy
from bookshop.text import visible

ORDER_PAGE, ACTIONS = "admin/order.html", "admin/_order_actions.html"
# The confirmation's one-time key: 24 random bytes, URL-safe base64.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
TOKEN_BYTES = 24
MAX_REASON_LENGTH = 200
# The audit entries an order's refunds are read from: far more than one order gathers.
MAX_ENTRIES = 200


class Refusal(Exception):
    """A refund staff can't have as asked; the message says why."""


@dataclass(frozen=True)
class Asked:
    """A refund as staff chose it on the order's page: copies of some books (and the delivery),
    or an amount; whether the copies go back in stock; why."""

    amount: int
    reason: str
    lines: tuple[RefundedCopies, ...] = ()
    delivery: bool = False
    restock: bool = False
    amount_text: str = ""  # the amount as typed, when staff typed one

    def fields(self) -> list[tuple[str, str]]:
        """The form fields that ask for this refund again (the confirmation carries them)."""
        found = [("reason", self.reason)]
        if self.amount_text:
            found.append(("amount", self.amount_text))
        for line in self.lines:
            found += [("line", line.book_id), (f"copies-{line.book_id}", str(line.copies))]
        if self.delivery:
            found.append(("delivery", "1"))
        if self.restock:
            found.append(("restock", "1"))
        return found

    def recorded(self, key: str) -> StaffRefund:
        """The refund as the ledger records it, under its confirmation's key."""
        return StaffRefund(key, self.amount, self.reason, self.lines, self.delivery, self.restock)


@dataclass(frozen=True)
class Confirmation:
    """A refund waiting for staff to confirm it, with its one-time key."""

    token: str
    asked: Asked
    card: str | None  # "Visa •••• 4242", None when Stripe couldn't say
    unavailable: bool = False  # the last try could not reach Stripe


@blueprint.post("/orders/<intent_id>/refund")
@policy(private=True, role=OWNER)
async def refund(intent_id: str) -> Response:
    """Check the refund chosen on the order's page and ask to confirm it (nothing is refunded
    yet); what can't be refunded is a 422 on the page, with the form as it was sent."""
    order = await _order(intent_id)
    form = await request.form
    try:
        _paid(order)
        asked = _asked(form, order)
        _within(asked, order, await _refunded_before(intent_id))
    except Refusal as refusal:
        return await _order_page(intent_id, 422, refund_error=str(refusal), refund_form=form)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return await _confirmation(order, Confirmation(token, asked, await _card(intent_id)))


@blueprint.post("/orders/<intent_id>/refund/confirm")
@policy(private=True, role=OWNER)
async def confirm_refund(intent_id: str) -> Response:
    """Refund at Stripe what the confirmation says, once whatever the retries, and record it;
    then back to the order's page."""
    form = await request.form
    token = form.get("token", "")
    if not TOKEN.fullmatch(token):
        raise BadRequest("This confirmation has no key: start the refund again from the order.")
    if await _recorded(token):
        return _back_to(intent_id)  # done already: a double click, or back and submit again
    order = await _order(intent_id)
    try:
        if order.status not in SETTLED:
            _paid(order)
        asked = _asked(form, order)
    except Refusal as refusal:
        return await _order_page(intent_id, 422, refund_error=str(refusal))
    if whole_number(form.get("total"), 12) != asked.amount:
        raise BadRequest("This confirmation doesn't add up: start the refund again from the order.")
    try:
        # Stripe's own checks decide what is left to refund: a retry of a refund Stripe made
        # already must get its answer again, even if the ledger has heard of it meanwhile.
        intent = await payments().refund(
            intent_id, asked.reason, amount=asked.amount, key=f"bookshop-staff-refund-{token}"
        )
    except RefundRefused as refused:
        return await _order_page(intent_id, 422, refund_error=refused.message)
    except PaymentNotFound:
        return await _order_page(
            intent_id, 422, refund_error="Stripe has no such payment: nothing was refunded."
        )
    except PaymentsUnavailable:
        confirmation = Confirmation(token, asked, await _card(intent_id), unavailable=True)
        return await _confirmation(order, confirmation, status=503)
    await ledger().refunded(intent, asked.recorded(token), _audit())
    return _back_to(intent_id)


def typed_amount(text: str, currency: str, locale: str) -> int:
    """An amount to refund staff typed, in minor units; Refusal unless a positive amount."""
    try:
        amount = parse_money(text, currency, locale, "the amount to refund")
    except ValueError as wrong:
        raise Refusal(str(wrong)) from None
    if amount <= 0:
        raise Refusal("Enter an amount more than nothing.")
    return amount


def _asked(form: MultiDict[str, str], order: Order) -> Asked:
    # The refund the form asks for, checked against the order (not against what is left).
    reason = " ".join(form.get("reason", "").split())
    if not reason:
        raise Refusal("Say why you are refunding: the audit log and Stripe keep it.")
    if len(reason) > MAX_REASON_LENGTH or visible(reason) != reason:
        raise Refusal(
            f"Give the reason in at most {MAX_REASON_LENGTH} printable characters "
            "(no control or invisible characters)."
        )
    amount_text = form.get("amount", "").strip()
    ticked = list(dict.fromkeys(form.getlist("line")))
    delivery = form.get("delivery") == "1"
    if amount_text and (ticked or delivery):
        raise Refusal("Refund either books (and the delivery) or an amount, not both.")
    if amount_text:
        amount = typed_amount(amount_text, order.currency, _locale())
        return Asked(amount, reason, amount_text=amount_text)
    if not ticked and not delivery:
        raise Refusal("Tick the books to refund (or the delivery), or enter an amount.")
    by_book = {line.book_id: line for line in order.lines}
    lines = []
    for book_id in ticked:
        line = by_book.get(book_id)
        if line is None:
            raise BadRequest("That book is not in this order: reload the order's page.")
        copies = whole_number(form.get(f"copies-{book_id}"), 3)
        if not copies or copies > line.quantity:
            raise Refusal(
                f"Choose from 1 to {line.quantity} copies of {visible(line.title)} to refund."
            )
        lines.append(RefundedCopies(book_id, line.title, copies))
    if delivery and not order.shipping:
        raise Refusal("The delivery was free: there is nothing to refund for it.")
    amount = sum(by_book[line.book_id].unit_price * line.copies for line in lines)
    amount += order.shipping if delivery else 0
    restock = form.get("restock") == "1" and bool(lines)
    return Asked(amount, reason, tuple(lines), delivery, restock)


def _paid(order: Order) -> None:
    if order.status == REFUNDED:
        raise Refusal("This order was refunded in full already: there is nothing left to refund.")
    if order.status != PAID:
        raise Refusal("This order is not paid: there is nothing to refund.")


def _within(asked: Asked, order: Order, before: list[dict[str, Any]]) -> None:
    # What is left to refund, as the ledger knows it (Stripe checks again as it refunds).
    copies: Counter[str] = Counter()
    for entry in before:
        for line in entry.get("lines") or []:
            copies[line["book_id"]] += int(line["copies"])
    quantities = {line.book_id: line.quantity for line in order.lines}
    for line in asked.lines:
        remaining = quantities[line.book_id] - copies[line.book_id]
        if line.copies > remaining:
            raise Refusal(
                f"Only {max(remaining, 0)} of {quantities[line.book_id]} copies of "
                f"{visible(line.title)} are left to refund."
            )
    if asked.delivery and any(entry.get("delivery") for entry in before):
        raise Refusal("The delivery was refunded already.")
    money = partial(format_money, currency=order.currency, locale=_locale())
    left = order.amount - order.amount_refunded
    if asked.amount > left:
        raise Refusal(
            f"Only {money(left)} of {money(order.amount)} is left to refund: "
            f"{money(asked.amount)} is more than that."
        )


def _locale() -> str:
    # How the shop writes numbers and money.
    settings: Settings = current_app.extensions["settings"]
    return settings.locale


async def _order(intent_id: str) -> Order:
    order = await ledger().get(intent_id)
    if order is None:
        raise NotFound("The ledger has no order with that payment id.")
    return order


async def _refunded_before(intent_id: str) -> list[dict[str, Any]]:
    # What staff refunded of the order so far, as its audit entries say.
    entries, _ = await audit.entries(
        ledger().database, subject=subject(intent_id), per_page=MAX_ENTRIES
    )
    return [entry.after for entry in entries if entry.action == "refunded" and entry.after]


async def _recorded(token: str) -> bool:
    # True once the refund this key confirms is in the ledger.
    async with ledger().database.reading() as connection:
        found = await connection.scalar(select(audit_log.c.id).where(audit_log.c.key == token))
    return found is not None


async def _card(intent_id: str) -> str | None:
    # The card the refund goes back to, as the confirmation names it.
    try:
        charge = (await payments().intent(intent_id)).charge
    except (PaymentsUnavailable, PaymentNotFound):
        return None
    if charge is None or not charge.card_last4:
        return None
    return f"{charge.card_brand.title()} •••• {charge.card_last4}"


def _audit() -> Audit:
    # The audit entry's writer, as the staff member acting from this address.
    return partial(audit.record, database=ledger().database, actor=acting())


async def _confirmation(order: Order, confirmation: Confirmation, status: int = 200) -> Response:
    return await render(
        "admin/refund_confirm.html",
        ACTIONS,
        status=status,
        order=order,
        member=current_staff(),
        confirming=confirmation,
        csrf_protected=True,
    )


async def _order_page(intent_id: str, status: int, **problem: Any) -> Response:
    # The order's page again with what went wrong beside its forms (htmx: the forms alone).
    return await render(
        ORDER_PAGE, ACTIONS, status=status, **await order_context(intent_id), **problem
    )


def _back_to(intent_id: str) -> Response:
    # The order's page, which shows what was done (htmx: a whole page, as all of it changed).
    url = url_for("admin.order", intent_id=intent_id)
    if htmx.wants_fragment():
        return htmx.redirect(Response(status=204), url)
    return cast(Response, redirect(url, 303))
