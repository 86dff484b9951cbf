"""The back office's orders: the list (filtered, searched, paged), its CSV export, and one
order's page with its payment as Stripe has it and a timeline of everything that happened."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quart import Response, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.admin import audit
from bookshop.admin.blueprint import acting, blueprint, current_staff
from bookshop.admin.schema import STAFF
from bookshop.forms import whole_number
from bookshop.money import to_major
from bookshop.orders import Order, ledger, listing
from bookshop.orders.listing import ALL, FILTERS, Criteria, RecordedEvent
from bookshop.pages import render
from bookshop.payments import Intent, PaymentNotFound, PaymentsUnavailable, payments
from bookshop.security import policy

# Deeper than any shop's orders go at 50 a page; a longer number is a mistyped URL.
MAX_PAGE_DIGITS = 6
# Staff actions an order's page lists: far more than one order ever gathers.
MAX_ENTRIES = 200
CSV_COLUMNS = (
    "order number",
    "intent id",
    "created",
    "paid",
    "status",
    "email",
    "name",
    "total",
    "refunded",
    "currency",
    "shipped",
    "carrier",
    "tracking",
    "lines",
)
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets, and
# shoppers choose their emails and names (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Stripe's webhook events in the timeline's words.
EVENTS = {
    "payment_intent.created": "Payment started",
    "payment_intent.requires_action": "Bank asked the shopper to confirm (3D Secure)",
    "payment_intent.processing": "Payment processing",
    "payment_intent.payment_failed": "Payment failed",
    "payment_intent.succeeded": "Paid",
    "payment_intent.canceled": "Payment canceled",
    "charge.succeeded": "Card charged",
    "charge.failed": "Charge failed",
    "charge.refunded": "Refunded",
    "charge.refund.updated": "Refund updated",
    "charge.dispute.created": "Disputed by the card's bank",
}
# Who did what the ledger and Stripe record (staff actions name the staff member).
SHOPPER, STRIPE, SHOP = "shopper", "Stripe", "shop"


@dataclass(frozen=True)
class Happening:
    """One thing that happened to an order, as its timeline shows it: when, what, who did it,
    and what more there is to say (an amount in the order's currency, or words)."""

    at: datetime
    what: str
    who: str
    detail: str = ""
    amount: int | None = None


@blueprint.get("/orders")
@policy(private=True, role=STAFF)
async def orders() -> Response:
    """The orders, newest first, 50 a page: filtered by status (`status`), searched by email,
    order number or payment id (`q`), page `page`. For htmx, the table alone (and the URL
    pushed)."""
    criteria = _criteria()
    number = _page_number()
    found = await listing.page(ledger().database, criteria, number)
    if number > found.pages:
        raise NotFound(
            f"There is no page {number} of these orders: they end at page {found.pages}."
        )
    response = await render(
        "admin/orders.html",
        "admin/_orders_table.html",
        criteria=criteria,
        filters=FILTERS,
        page=found,
        to_ship=listing.to_ship,
        filter_args=_args(criteria),
        # Each status link keeps the search.
        status_args={status: _args(Criteria(status, criteria.search)) for status in FILTERS},
        previous_page=_args(criteria, number - 1) if number > 1 else None,
        next_page=_args(criteria, number + 1) if found.has_next else None,
        export_limit=listing.EXPORT_LIMIT,
    )
    if htmx.wants_fragment():
        # The address bar names the list as its links do (no empty `q=`).
        htmx.push_url(response, url_for("admin.orders", **_args(criteria, number)))
    return response


@blueprint.get("/orders.csv")
@policy(private=True, role=STAFF)
async def orders_csv() -> Response:
    """The orders the list shows for the same `status` and `q`, all pages (the newest
    EXPORT_LIMIT at most), as a CSV file to download."""
    criteria = _criteria()
    database = ledger().database
    found = await listing.every(database, criteria)
    # Shoppers' emails and addresses leave the shop in it: who took which, and when, is kept.
    async with database.transaction() as connection:
        await audit.record(
            connection,
            database,
            acting(),
            "orders exported",
            "orders",
            after={"status": criteria.status, "search": criteria.search, "orders": len(found)},
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows([spreadsheet_safe(cell) for cell in _csv_row(order)] for order in found)
    today = datetime.now(UTC).date().isoformat()
    name = (
        f"orders-{today}.csv" if criteria.status == ALL else f"orders-{criteria.status}-{today}.csv"
    )
    # A byte order mark: Excel reads a CSV file without one in the computer's legacy code page.
    response = Response("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/orders/<intent_id>")
@policy(private=True, role=STAFF)
async def order(intent_id: str) -> Response:
    """One order: its lines, address and amounts, its payment as Stripe has it now, its
    timeline and its staff actions, and the forms to act on it."""
    return await render("admin/order.html", **await order_context(intent_id))


async def order_context(intent_id: str) -> dict[str, Any]:
    """What `admin/order.html` shows of an order (NotFound when the ledger lacks it): `order`
    (Order), `payment` (Intent as Stripe has it now, None when it could not be read),
    `payment_problem` (why not, or None), `dashboard_url` (the payment in Stripe's dashboard,
    None with the sandbox), `timeline` (Happenings, oldest first), `entries` (the order's audit
    entries, newest first), `to_ship`, `member` (the staff member) and `csrf_protected`.

    A view that shows the page again (a refund or shipping form with an error) adds its own:
    `render("admin/order.html", status=422, **await order_context(intent_id), error=...)`.
    """
    order = await ledger().get(intent_id)
    if order is None:
        raise NotFound("The ledger has no order with that payment id.")
    payment, problem = await _payment(intent_id)
    database = ledger().database
    events = await listing.events_of(database, intent_id)
    entries, _ = await audit.entries(database, subject=f"order {intent_id}", per_page=MAX_ENTRIES)
    return {
        "order": order,
        "payment": payment,
        "payment_problem": problem,
        "dashboard_url": _dashboard_url(intent_id),
        "timeline": timeline(order, events, payment, entries),
        "entries": entries,
        "to_ship": listing.to_ship(order),
        "member": current_staff(),
        "csrf_protected": True,
    }


def timeline(
    order: Order,
    events: list[RecordedEvent],
    payment: Intent | None,
    entries: list[audit.Entry],
) -> list[Happening]:
    """Everything that happened to an order, oldest first: from the ledger (created, declines,
    paid, shipped), Stripe's webhook events, the charge's refunds as Stripe has them, and what
    staff did."""
    found = [Happening(order.created_at, "Order created", SHOPPER, amount=order.amount)]
    found += [
        Happening(event.received_at, EVENTS.get(event.type, f"Stripe event {event.type}"), STRIPE)
        for event in events
    ]
    if order.attempts or order.decline_code:
        found.append(_declines(order, events))
    if order.paid_at is not None:
        found.append(Happening(order.paid_at, "Paid", SHOPPER, amount=order.amount))
    if payment is not None and payment.charge is not None:
        found += [
            Happening(
                datetime.fromtimestamp(refund.created, UTC),
                "Refund" if refund.status == "succeeded" else f"Refund ({refund.status})",
                STRIPE,
                refund.reason or "",
                refund.amount,
            )
            for refund in payment.charge.refunds
        ]
    if order.shipped_at is not None:
        sent = ", ".join(
            part
            for part in (
                order.carrier,
                f"tracking {order.tracking_number}" if order.tracking_number else "",
            )
            if part
        )
        found.append(Happening(order.shipped_at, "Shipped", SHOP, sent))
    found += [
        Happening(entry.at, entry.action.capitalize(), entry.actor, _changes(entry))
        for entry in entries
    ]
    # A stable sort: what happened at the same moment keeps the order above (paid after declines).
    return sorted(found, key=lambda happening: happening.at)


def spreadsheet_safe(value: str) -> str:
    """A CSV cell that a spreadsheet shows as the text it is: one that would start a formula
    gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _criteria() -> Criteria:
    # The list's `status` and `q`: 400 for a filter there is none of or an overlong search.
    status = request.args.get("status", "").strip() or ALL
    if status not in FILTERS:
        raise BadRequest(f"Orders can be filtered by status: {', '.join(FILTERS)}.")
    search = request.args.get("q", "").strip()
    if len(search) > listing.MAX_SEARCH_LENGTH:
        raise BadRequest(f"A search can be at most {listing.MAX_SEARCH_LENGTH} characters long.")
    return Criteria(status, search)


def _page_number() -> int:
    number = whole_number(request.args.get("page", "1"), MAX_PAGE_DIGITS)
    if not number:
        raise BadRequest("The page must be a whole number, 1 or more.")
    return number


def _args(criteria: Criteria, number: int = 1) -> dict[str, Any]:
    # The list's query for a page: only what differs from the defaults.
    args: dict[str, Any] = {}
    if criteria.status != ALL:
        args["status"] = criteria.status
    if criteria.search:
        args["q"] = criteria.search
    if number > 1:
        args["page"] = number
    return args


async def _payment(intent_id: str) -> tuple[Intent | None, str | None]:
    # The payment as Stripe has it now; the page shows the ledger alone when Stripe can't say.
    try:
        return await payments().intent(intent_id), None
    except PaymentsUnavailable:
        return None, "Stripe couldn't be reached; showing the ledger only."
    except PaymentNotFound:
        return None, "Stripe has no payment with this id; showing the ledger only."


def _dashboard_url(intent_id: str) -> str | None:
    try:
        return payments().dashboard_url(intent_id)
    except PaymentNotFound:
        return None  # not an id Stripe gives: no page of Stripe's has it


def _declines(order: Order, events: list[RecordedEvent]) -> Happening:
    # The ledger counts failed attempts and keeps the last decline code, not when each was: the
    # entry sits at the last failure Stripe told of, else just before the payment (or the
    # order's last change).
    failures = [event.received_at for event in events if event.type.endswith("payment_failed")]
    at = failures[-1] if failures else order.paid_at or order.updated_at
    said = []
    if order.attempts:
        said.append(f"{order.attempts} failed attempt{'s' if order.attempts != 1 else ''}")
    if order.decline_code:
        said.append(f"the last declined: {order.decline_code}")
    return Happening(at, "Card declined", SHOPPER, "; ".join(said))


def _changes(entry: audit.Entry) -> str:
    # An audit entry's before and after, as "field: before → after" for each field.
    before, after = entry.before or {}, entry.after or {}
    parts = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if key in before and key in after:
            parts.append(f"{key}: {was} → {now}")
        else:
            parts.append(f"{key}: {now if key in after else was}")
    return "; ".join(parts)


def _csv_row(order: Order) -> list[str]:
    currency = order.currency.upper()
    return [
        order.number,
        order.intent_id,
        _iso(order.created_at),
        _iso(order.paid_at),
        order.status,
        order.email or "",
        order.address.name if order.address is not None else "",
        str(to_major(order.amount, currency)),
        str(to_major(order.amount_refunded, currency)),
        currency,
        _iso(order.shipped_at),
        order.carrier or "",
        order.tracking_number or "",
        "; ".join(f"{line.quantity} x {line.title}" for line in order.lines),
    ]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else ""
