"""A payment's result, read on the server with the secret key: the receipt, a decline, or
where the payment stands. Also where Stripe sends shoppers back after a redirect (`/success`)."""

from __future__ import annotations

from typing import Any

from quart import Response, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.checkout.blueprint import blueprint
from bookshop.checkout.checkouts import back_url, forget_paid, ordered, result_url, started_here
from bookshop.orders import ledger
from bookshop.pages import render
from bookshop.payments import Intent, PaymentNotFound, PaymentsUnavailable, payments
from bookshop.security import STATUS, policy


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
    return await render_outcome(payment, intent_id=intent_id, secret=client_secret)


async def receipt_response(payment: Intent) -> Response:
    """A paid payment's receipt; for htmx it replaces the payment area, and a reload of the URL
    it pushes shows it again."""
    response = await render_outcome(payment, intent_id=payment.id, secret=payment.client_secret)
    if htmx.wants_fragment():
        htmx.retarget(response, "#payment", swap="innerHTML")
        htmx.push_url(response, result_url(payment))
    return response


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
