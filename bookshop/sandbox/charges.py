"""Charges (made by PaymentIntents' confirmations) and their refunds."""

from __future__ import annotations

from bookshop.sandbox import money, objects
from bookshop.sandbox.errors import StripeError, invalid_param, invalid_request, no_such
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.parsing import merge_metadata, parse_amount
from bookshop.sandbox.records import Records, RequestContext

# An expanded list inside an object holds its first page only, as Stripe's do.
SUBLIST_LIMIT = 10


class Charges(Records):
    """Reading Charges; refunding them in full or in part."""

    def charge(self, charge_id: str) -> JSON:
        """The Charge, or Stripe's 404."""
        charge = self.charges.get(charge_id)
        if charge is None:
            raise no_such("charge", charge_id, param="id")
        return charge

    def charges_for_intent(self, intent_id: str) -> list[JSON]:
        """Charges of one PaymentIntent, oldest first."""
        return [self.charges.by_id[c] for c in self._charges_by_intent.get(intent_id, [])]

    def create_refund(self, params: JSON, ctx: RequestContext) -> JSON:
        """POST /v1/refunds, by charge or payment_intent, in full or in part."""
        charge = self._refunded_charge(params)
        if charge["status"] != "succeeded":
            raise invalid_request(
                f"Charge {charge['id']} has not been captured or has failed, so it cannot be "
                "refunded.",
                param="charge",
                code="charge_not_refundable",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid_request(
                f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = parse_amount(params["amount"]) if "amount" in params else remaining
        if amount <= 0:
            raise invalid_param("Invalid positive integer", param="amount")
        if amount > remaining:
            currency = charge["currency"]
            raise invalid_request(
                f"Refund amount ({money.format_amount(amount, currency)}) is greater than "
                f"unrefunded amount on charge ({money.format_amount(remaining, currency)})",
                param="amount",
                code="amount_too_large",
            )
        reason = params.get("reason")
        metadata = merge_metadata({}, params.get("metadata"))
        refund = self.refunds.add(objects.refund(charge, amount, reason or None, metadata))
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._refunds_by_charge.setdefault(charge["id"], []).append(refund["id"])
        # Since API version 2024-10-28.acacia Stripe sends refund.created for every refund, then
        # charge.refunded (docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update).
        # refund.updated follows a change of status; a card refund here succeeds at once and
        # never changes, so none is sent.
        self.emit("refund.created", refund, ctx)
        self.emit("charge.refunded", charge, ctx)
        return refund

    def _refunded_charge(self, params: JSON) -> JSON:
        """The Charge a refund names, by itself or by its PaymentIntent's latest charge."""
        if params.get("charge"):
            charge = self.charges.get(str(params["charge"]))
            if charge is None:
                raise no_such("charge", str(params["charge"]), param="charge", status=400)
            return charge
        if params.get("payment_intent"):
            intent = self.payment_intents.get(str(params["payment_intent"]))
            if intent is None:
                raise no_such(
                    "payment_intent",
                    str(params["payment_intent"]),
                    param="payment_intent",
                    status=400,
                )
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to "
                    "refund.",
                    param="payment_intent",
                    code="charge_not_refundable" if intent["latest_charge"] else None,
                )
            return self.charges.by_id[intent["latest_charge"]]
        raise invalid_param(
            "One of the following params should be provided for this request: "
            "payment_intent or charge."
        )

    def charge_refunds(self, charge_id: str) -> JSON:
        """A Charge's `refunds` list, newest first, for `expand[]=refunds`."""
        ids = self._refunds_by_charge.get(charge_id, [])
        newest = [self.refunds.by_id[refund_id] for refund_id in reversed(ids)]
        return {
            "object": "list",
            "data": newest[:SUBLIST_LIMIT],
            "has_more": len(newest) > SUBLIST_LIMIT,
            "url": f"/v1/charges/{charge_id}/refunds",
        }

    def refunds_for_charge(self, charge_id: str) -> list[JSON]:
        """Refunds of one Charge, oldest first."""
        return [self.refunds.by_id[r] for r in self._refunds_by_charge.get(charge_id, [])]

    def refund(self, refund_id: str) -> JSON:
        """The Refund, or Stripe's 404."""
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise no_such("refund", refund_id, param="id")
        return refund
