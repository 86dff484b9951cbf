"""Marking an order shipped from its page, with the carrier and the parcel's tracking number."""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from quart import Response, redirect, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound

from bookshop import htmx
from bookshop.admin import audit
from bookshop.admin.blueprint import acting, blueprint
from bookshop.admin.orders import order_context
from bookshop.admin.schema import STAFF
from bookshop.orders import ledger
from bookshop.orders.staff import SHIPPED, UNKNOWN, NotShippable
from bookshop.pages import render
from bookshop.security import policy
from bookshop.text import visible

ORDER_PAGE, ACTIONS = "admin/order.html", "admin/_order_actions.html"
MAX_LENGTH = 100  # the orders table's carrier and tracking_number columns


class Unfit(Exception):
    """A shipping field that can't be stored as typed; the message says why."""


@blueprint.post("/orders/<intent_id>/ship")
@policy(private=True, role=STAFF)
async def ship(intent_id: str) -> Response:
    """Mark a paid order shipped with its carrier (and tracking number, when the parcel has
    one); then back to the order's page. A flagged, unpaid or shipped order is refused."""
    form = await request.form
    try:
        carrier = _field(form, "carrier", "the carrier")
        tracking_number = _field(form, "tracking_number", "the tracking number") or None
        if not carrier:
            raise Unfit("Say which carrier took the parcel.")
    except Unfit as unfit:
        return await _order_page(intent_id, 422, ship_error=str(unfit), ship_form=form)
    writer = partial(audit.record, database=ledger().database, actor=acting())
    try:
        await ledger().mark_shipped(intent_id, carrier, tracking_number, writer)
    except NotShippable as refused:
        if refused.why == UNKNOWN:
            raise NotFound("The ledger has no order with that payment id.") from None
        status = 409 if refused.why == SHIPPED else 422
        return await _order_page(intent_id, status, ship_error=refused.message, ship_form=form)
    url = url_for("admin.order", intent_id=intent_id)
    if htmx.wants_fragment():
        # The whole page changes (status, timeline): load it.
        return htmx.redirect(Response(status=204), url)
    return cast(Response, redirect(url, 303))


def _field(form: MultiDict[str, str], name: str, label: str) -> str:
    # A short line of printable text, its runs of spaces made one; "" when left empty.
    value = " ".join(form.get(name, "").split())
    if len(value) > MAX_LENGTH:
        raise Unfit(f"Give {label} in at most {MAX_LENGTH} characters.")
    if visible(value) != value:
        raise Unfit(f"Give {label} without control or invisible characters.")
    return value


async def _order_page(intent_id: str, status: int, **problem: Any) -> Response:
    # The order's page again with what went wrong beside its forms (htmx: the forms alone).
    return await render(
        ORDER_PAGE, ACTIONS, status=status, **await order_context(intent_id), **problem
    )
