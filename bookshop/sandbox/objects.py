"""The JSON shapes of the Stripe objects the sandbox makes, each built fresh from plain values."""

from __future__ import annotations

import json
import secrets
import string
import time
from typing import Any

from bookshop.sandbox import cards

JSON = dict[str, Any]
API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits

# Stripe.js reads only these PaymentIntent fields with a publishable key and the client secret.
PUBLISHABLE_FIELDS = (
    "id",
    "object",
    "amount",
    "amount_details",
    "automatic_payment_methods",
    "canceled_at",
    "cancellation_reason",
    "capture_method",
    "client_secret",
    "confirmation_method",
    "created",
    "currency",
    "description",
    "excluded_payment_method_types",
    "last_payment_error",
    "livemode",
    "next_action",
    "payment_method",
    "payment_method_configuration_details",
    "payment_method_types",
    "processing",
    "receipt_email",
    "setup_future_usage",
    "shipping",
    "source",
    "status",
)


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-like id: prefix, underscore, random base62."""
    # One call to the OS RNG and a base conversion: ids are made several times per request.
    number = int.from_bytes(secrets.token_bytes(length))
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "_" + "".join(chars)


def snapshot(obj: JSON) -> JSON:
    """A deep copy that later changes to the object cannot reach (JSON round trip is fastest)."""
    result: JSON = json.loads(json.dumps(obj))
    return result


def event(event_type: str, obj: JSON, request_id: str | None, idempotency_key: str | None) -> JSON:
    """An Event holding a snapshot of `obj` as it is now."""
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": snapshot(obj)},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def payment_intent(
    *,
    amount: int,
    currency: str,
    automatic_payment_methods: JSON | None,
    capture_method: str,
    description: str | None,
    metadata: JSON,
    payment_method_types: list[str],
    receipt_email: str | None,
    setup_future_usage: str | None,
    shipping: JSON | None,
    statement_descriptor: str | None,
    statement_descriptor_suffix: str | None,
) -> JSON:
    """A new PaymentIntent, waiting for a payment method."""
    intent_id = new_id("pi")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": automatic_payment_methods,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": f"{intent_id}_secret_{new_id('x', 25)[2:]}",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": shipping,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def shipping(params: JSON) -> JSON:
    """A PaymentIntent's (and its charges') `shipping`, from validated `shipping[...]` params."""
    address = params.get("address") or {}
    return {
        "address": {
            key: address.get(key) or None
            for key in ("city", "country", "line1", "line2", "postal_code", "state")
        },
        "carrier": params.get("carrier") or None,
        "name": params.get("name") or None,
        "phone": params.get("phone") or None,
        "tracking_number": params.get("tracking_number") or None,
    }


def three_d_secure_action(intent: JSON, origin: str) -> JSON:
    """`next_action` sending Stripe.js to the sandbox's 3D Secure challenge."""
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "stripe_js": f"{origin}/3ds/challenge/{intent['id']}"
            f"?client_secret={intent['client_secret']}",
        },
    }


def authentication_failure(method: JSON) -> JSON:
    """`last_payment_error` after a failed 3D Secure challenge."""
    return {
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
        "message": cards.AUTHENTICATION_FAILED_MESSAGE,
        "payment_method": method,
        "type": "invalid_request_error",
    }


def decline_error(decline: cards.Decline, charge_id: str, method: JSON) -> JSON:
    """`last_payment_error` after a declined charge."""
    error: JSON = {
        "charge": charge_id,
        "code": decline.code,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
        "message": decline.message,
        "payment_method": method,
        "type": "card_error",
    }
    if decline.decline_code:
        error["decline_code"] = decline.decline_code
    if decline.param:
        error["param"] = decline.param
    return error


def _outcome(decline: cards.Decline | None) -> JSON:
    if decline is None:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": decline.network_status,
        "reason": decline.outcome_reason(),
        "risk_level": decline.risk_level,
        "risk_score": 85 if decline.risk_level == "highest" else 32,
        "seller_message": decline.outcome_seller_message(),
        "type": decline.outcome_type,
    }


def charge(
    intent: JSON,
    method: JSON,
    decline: cards.Decline | None,
    *,
    origin: str,
    three_d_secure: bool,
) -> JSON:
    """The Charge of one attempt to pay `intent` with `method`, failed when `decline` is given."""
    card = method["card"]
    charge_id = new_id("ch")
    succeeded = decline is None
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn") if succeeded else None,
        "billing_details": method["billing_details"],
        "calculated_statement_descriptor": "SANDBOX BOOKSHOP",
        "captured": succeeded,
        "created": int(time.time()),
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if decline is None else decline.code,
        "failure_message": None if decline is None else decline.message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": _outcome(decline),
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": method["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": intent["amount"] if succeeded else None,
                "authorization_code": None,
                "brand": card["brand"],
                "checks": card["checks"],
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": None,
                "overcapture": {
                    "maximum_amount_capturable": intent["amount"],
                    "status": "unavailable",
                },
                "regulated_status": "unregulated",
                "three_d_secure": {
                    "authentication_flow": "challenge",
                    "electronic_commerce_indicator": "05",
                    "exemption_indicator": None,
                    "result": "authenticated",
                    "result_reason": None,
                    "transaction_id": new_id("tds", 16),
                    "version": "2.2.0",
                }
                if three_d_secure
                else None,
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"{origin}/receipts/{charge_id}" if succeeded else None,
        "refunded": False,  # `refunds` only when expanded (Store.charge_refunds)
        "review": None,
        "shipping": intent["shipping"],
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_method(details: cards.CardDetails, billing: Any, metadata: JSON) -> JSON:
    """A card PaymentMethod for validated card details (`billing` as the caller sent it)."""
    billing = billing if isinstance(billing, dict) else {}
    address = billing.get("address") if isinstance(billing.get("address"), dict) else {}
    card_brand = cards.brand(details.number)
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                key: address.get(key) or None
                for key in ("city", "country", "line1", "line2", "postal_code", "state")
            },
            "email": billing.get("email") or None,
            "name": billing.get("name") or None,
            "phone": billing.get("phone") or None,
            "tax_id": None,
        },
        "card": {
            "brand": card_brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": "pass" if address.get("postal_code") else None,
                "cvc_check": "pass" if details.cvc else None,
            },
            "country": "US",
            "display_brand": card_brand,
            "exp_month": details.exp_month,
            "exp_year": details.exp_year,
            "fingerprint": cards.fingerprint(details.number),
            "funding": "credit",
            "generated_from": None,
            "last4": details.number[-4:],
            "networks": {"available": [card_brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": int(time.time()),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": metadata,
        "type": "card",
    }


def refund(charge: JSON, amount: int, reason: str | None, metadata: JSON) -> JSON:
    """A card Refund of `amount` from `charge`, succeeded at once as in test mode."""
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
