"""Stripe's failures in the shop's words: what the views catch instead of `stripe.*` errors."""

from __future__ import annotations


class PaymentsUnavailable(Exception):
    """Stripe (or the sandbox) could not be reached or failed; nothing was charged by this call."""


class PaymentNotFound(Exception):
    """No such payment for this shopper: Stripe answered 404, or the client secret is wrong."""


class IntentLocked(Exception):
    """The intent can no longer change (it is paid, processing or canceled)."""


class InvalidEmail(Exception):
    """Stripe refused the receipt address."""


class InvalidWebhook(Exception):
    """A webhook body that is not signed with the endpoint secret, or is not a Stripe event."""


class RefundRefused(Exception):
    """Stripe refused a refund (nothing was refunded by this call): more than is left to refund,
    a payment refunded in full already or never paid, or a key used before for another refund.
    `str()` is a message for the shopkeeper (no ids of Stripe's requests, no keys); `code` says
    which case, for a caller that words it itself: `amount_too_large`, `already_refunded`,
    `not_paid`, `disputed`, `key_reused`, `invalid_amount` or `invalid_reason` (refused before
    asking Stripe), or `refused` (a refusal the shop does not know, logged)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
