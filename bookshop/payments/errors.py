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
