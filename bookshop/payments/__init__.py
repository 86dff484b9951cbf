"""Stripe, behind the shop's own types: the only package that imports `stripe`.

Every call runs in a dedicated thread pool so the event loop never waits on Stripe, and every Stripe
error a shopper can meet becomes one of a few outcomes the views know how to show; a request
Stripe refuses as malformed is the shop's bug, and raises as one.
"""

from bookshop.payments.errors import (
    IntentLocked,
    InvalidEmail,
    InvalidWebhook,
    PaymentNotFound,
    PaymentsUnavailable,
    RefundRefused,
)
from bookshop.payments.gateway import Payments, payments
from bookshop.payments.objects import (
    Charge,
    ConfirmationToken,
    Intent,
    IntentLine,
    Outcome,
    Refund,
    WebhookEvent,
    intent_id_from_secret,
    read_event,
    read_intent,
    read_refund,
)

__all__ = [
    "Charge",
    "ConfirmationToken",
    "Intent",
    "IntentLine",
    "IntentLocked",
    "InvalidEmail",
    "InvalidWebhook",
    "Outcome",
    "PaymentNotFound",
    "Payments",
    "PaymentsUnavailable",
    "Refund",
    "RefundRefused",
    "WebhookEvent",
    "intent_id_from_secret",
    "payments",
    "read_event",
    "read_intent",
    "read_refund",
]
