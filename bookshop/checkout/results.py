"""A payment's result, read on the server with the secret key: the order's confirmation, a
decline, or where the payment stands. Also where Stripe sends shoppers back after a redirect
(`/success`)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from quart import Response, current_app, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.checkout.blueprint import blueprint
from bookshop.checkout.checkouts import back_url, forget_paid, ordered, result_url, started_here
from bookshop.config import Settings
from bookshop.orders import Order, ledger
from bookshop.orders.links import order_token
from bookshop.orders.schema import PAID
from bookshop.pages import render
from bookshop.payments import Intent, PaymentNotFound, PaymentsUnavailable, payments
from bookshop.security import STATUS, policy
from bookshop.shipping import Zone, default_rates
from bookshop.stock import keeper, stock


@blueprint.get("/payment/status")
@blueprint.get("/success", endpoint="success")
@policy(private=True, secret=True, rate_limit=STATUS)
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
        await ledger().mark_paid(payment)  # the confirmation and the ledger never disagree
        if started_here(payment):
            await forget_paid(payment)
        return await receipt_response(payment)
    if payment.outcome in ("declined", "canceled"):
        # 3D Secure failed, or the payment was given up: its copies (only its own: a later Pay
        # of the same checkout holds its own) go back on sale.
        await stock().release(payment.id, intent_id=payment.id)
    return await render_outcome(payment, intent_id=intent_id, secret=client_secret)


async def receipt_response(payment: Intent) -> Response:
    """A paid payment's confirmation: the order's number, what it bought, where it goes and
    when, and the link to its page. For htmx it replaces the whole checkout (the page's main
    content), and a reload of the URL it pushes shows it again. A payment whose copies were sold
    meanwhile is refunded first, and the payment area says so instead."""
    order = await ledger().get(payment.id)
    if order is None:
        # Both callers wrote the payment to the ledger first (the pay step, `mark_paid`).
        raise LookupError(f"the ledger has no order for {payment.id}, written just now")
    if order.refund_reason and order.status == PAID:
        with suppress(PaymentsUnavailable):  # else the keeper's next round refunds it
            payment = await keeper.refund(ledger(), payments(), payment.id)
    response = await render_outcome(
        payment,
        intent_id=payment.id,
        secret=payment.client_secret,
        refund_reason=order.refund_reason,
        **({} if order.refund_reason else confirmation(order)),
    )
    if htmx.wants_fragment():
        # Paid: nothing of the checkout is left to show (its form, its summary, "back to your
        # cart"); a refund for copies gone replaces the payment area alone.
        htmx.retarget(response, "#payment" if order.refund_reason else "#main", swap="innerHTML")
        htmx.push_url(response, result_url(payment))
    return response


def confirmation(order: Order) -> dict[str, Any]:
    """What the confirmation shows of a paid order beside the payment: `placed` (the order as
    the ledger has it, with its number), `zone` (where it goes: the delivery time; None when the
    shop no longer ships there) and `order_url` (the shopper's page of the order)."""
    settings: Settings = current_app.extensions["settings"]
    return {
        "placed": order,
        "zone": zone_of(order),
        "order_url": url_for(
            "checkout.order_page", token=order_token(settings.secret_key, order.number)
        ),
    }


def zone_of(order: Order) -> Zone | None:
    """The shipping zone an order goes to (its delivery time), if the shop still has one."""
    return default_rates().zone(order.address.country) if order.address is not None else None


async def render_outcome(
    payment: Intent | None,
    status: int = 200,
    intent_id: str = "",
    secret: str = "",
    refund_reason: str | None = None,
    **confirmed: Any,
) -> Response:
    """A payment result; no payment means the payment provider could not be reached.
    `refund_reason`: why the shop refunds (or refunded) a paid payment itself; `confirmed`: a
    paid order's `confirmation`."""
    context: dict[str, Any] = {
        **confirmed,
        "payment": payment,
        "refund_reason": refund_reason,
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
