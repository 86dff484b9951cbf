"""A payment's result, read on the server with the secret key: the receipt, a decline, or
where the payment stands. Also where Stripe sends shoppers back after a redirect (`/success`)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from quart import Response, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.checkout.blueprint import blueprint
from bookshop.checkout.checkouts import back_url, forget_paid, ordered, result_url, started_here
from bookshop.orders import ledger
from bookshop.orders.schema import PAID
from bookshop.pages import render
from bookshop.payments import Intent, PaymentNotFound, PaymentsUnavailable, payments
from bookshop.security import STATUS, policy
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
        await ledger().mark_paid(payment)  # the receipt and the ledger never disagree
        if started_here(payment):
            await forget_paid(payment)
        return await receipt_response(payment)
    if payment.outcome in ("declined", "canceled"):
        # 3D Secure failed, or the payment was given up: its copies (only its own: a later Pay
        # of the same checkout holds its own) go back on sale.
        await stock().release(payment.id, intent_id=payment.id)
    return await render_outcome(payment, intent_id=intent_id, secret=client_secret)


async def receipt_response(payment: Intent) -> Response:
    """A paid payment's receipt; for htmx it replaces the payment area, and a reload of the URL
    it pushes shows it again. A payment whose copies were sold meanwhile is refunded first, and
    the page says so."""
    order = await ledger().get(payment.id)
    refund_reason = order.refund_reason if order is not None else None
    if order is not None and order.refund_reason and order.status == PAID:
        with suppress(PaymentsUnavailable):  # else the keeper's next round refunds it
            payment = await keeper.refund(ledger(), payments(), payment.id)
    response = await render_outcome(
        payment, intent_id=payment.id, secret=payment.client_secret, refund_reason=refund_reason
    )
    if htmx.wants_fragment():
        htmx.retarget(response, "#payment", swap="innerHTML")
        htmx.push_url(response, result_url(payment))
    return response


async def render_outcome(
    payment: Intent | None,
    status: int = 200,
    intent_id: str = "",
    secret: str = "",
    refund_reason: str | None = None,
) -> Response:
    """A payment result; no payment means the payment provider could not be reached.
    `refund_reason`: why the shop refunds (or refunded) a paid payment itself."""
    context: dict[str, Any] = {
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
