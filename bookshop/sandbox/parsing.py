"""The values inside parameters that Stripe checks beyond their type: amounts, currencies, limits,
email addresses and metadata, each refused with Stripe's error."""

from __future__ import annotations

import re
from typing import Any

from bookshop.sandbox import money
from bookshop.sandbox.errors import invalid_integer, invalid_param
from bookshop.sandbox.objects import JSON


def parse_int(value: Any, param: str) -> int:
    """An integer parameter, or Stripe's invalid-integer error."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise invalid_integer(param, value)


def parse_limit(value: Any) -> int:
    """`limit`: 1 to 100, default 10."""
    if value is None:
        return 10
    limit = parse_int(value, "limit")
    if not 1 <= limit <= 100:
        raise invalid_param(
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            param="limit",
        )
    return limit


def parse_amount(value: str) -> int:
    """A non-negative integer amount (validation made sure it is an integer)."""
    amount = parse_int(value, "amount")
    if amount < 0:
        raise invalid_param("This value must be greater than or equal to 0.", param="amount")
    if amount > money.MAXIMUM_AMOUNT:
        raise invalid_param(
            "Amount must be no more than $999,999.99", param="amount", code="amount_too_large"
        )
    return amount


def parse_currency(value: str) -> str:
    """A supported currency, lower case (validation made sure one was given)."""
    currency = value.lower()
    if currency not in money.SUPPORTED:
        raise invalid_param(
            f"Invalid currency: {value}. Stripe currently supports these currencies: "
            f"{money.supported_list()}",
            param="currency",
        )
    return currency


def check_minimum(amount: int, currency: str) -> None:
    """Stripe refuses charges below the currency's minimum."""
    minimum = money.minimum_amount(currency)
    if amount < minimum:
        raise invalid_param(
            f"Amount must be at least {money.format_amount(minimum, currency)} {currency}",
            param="amount",
            code="amount_too_small",
        )


# Stripe documents only that a refused address is "not properly formatted" (error code
# email_invalid, https://docs.stripe.com/error-codes): the sandbox takes an RFC 5322 dot-atom local
# part and a DNS domain with an alphabetic top-level label, which refuses what Stripe does in
# practice (spaces, consecutive or leading dots, no or a one-letter top-level domain).
EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def parse_email(value: Any, param: str = "receipt_email") -> str | None:
    """An email address, `""` to clear it, or Stripe's email_invalid error."""
    if value is None or value == "":
        return None
    text = str(value)
    local = text.partition("@")[0]
    if len(text) > 254 or len(local) > 64 or not EMAIL.match(text):
        raise invalid_param(f"Invalid email address: {text}", param=param, code="email_invalid")
    return text


def merge_metadata(current: JSON, update: Any) -> JSON:
    """Stripe's metadata rules: keys merge, an empty value deletes a key, `metadata=` clears all.

    validation has checked each key and value; how many keys there are depends on `current`.
    """
    if update is None:
        return dict(current)
    if update == "":
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise invalid_param("Metadata can have up to 50 keys.", param="metadata")
    return merged
