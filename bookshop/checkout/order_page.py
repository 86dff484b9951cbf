"""The shopper's page of an order, opened by the signed link on the confirmation and in every
email: no account, only the token (bookshop/orders/links.py), which only the shop can make."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_date
from quart import Response, current_app
from werkzeug.exceptions import NotFound

from bookshop.checkout.blueprint import blueprint
from bookshop.checkout.results import zone_of
from bookshop.config import Settings
from bookshop.orders import ledger
from bookshop.orders.links import PATH, number_from
from bookshop.orders.schema import SETTLED
from bookshop.pages import render
from bookshop.security import policy

# Longer than any token the shop signs (an order number and its signature): a longer one is no
# order's, and is refused before it is decoded.
MAX_TOKEN_LENGTH = 200
NOT_FOUND = "We couldn't find that order. Check that the link is complete, as it was sent to you."


@blueprint.get(f"{PATH}<token>")
@policy(private=True)
async def order_page(token: str) -> Response:
    """A paid order as its shopper sees it: its number, date, lines, totals, where it goes and
    where it stands (paid, shipped with the tracking number, refunded). A tampered token, one
    another shop signed, or one for no paid order is a 404. Never indexed, never stored."""
    settings: Settings = current_app.extensions["settings"]
    number = number_from(settings.secret_key, token) if len(token) <= MAX_TOKEN_LENGTH else None
    order = await ledger().by_number(number) if number is not None else None
    if order is None or order.status not in SETTLED:
        # The shop links to paid orders only: an unpaid one has nothing for a shopper to hold.
        raise NotFound(NOT_FOUND)
    response = await render(
        "checkout/order.html",
        placed=order,
        zone=zone_of(order),
        ordered_on=day(order.paid_at or order.created_at, settings),
        shipped_on=day(order.shipped_at, settings) if order.shipped_at else None,
    )
    # The page says so too (<meta name="robots">); a header also covers what reads no HTML.
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def day(moment: datetime, settings: Settings) -> str:
    """A date as the shop's locale writes it in full: "12 March 2027"."""
    return format_date(moment, format="long", locale=settings.locale)
