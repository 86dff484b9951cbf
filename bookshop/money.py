"""Money: integer amounts in a currency's minor unit, formatted by Babel."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_precision,
    parse_decimal,
)

# Amount then ISO code ("23.00 SGD") is unambiguous where "$" is not; Babel still applies each
# currency's own number of decimals (none for JPY, three for KWD).
PATTERN = "#,##0.00\xa0¤¤"
# Longer than any amount the shop handles, written any way a locale writes it.
MAX_TYPED_LENGTH = 30


def to_major(amount: int, currency: str) -> Decimal:
    """The amount in major units (2300 SGD cents -> Decimal('23.00'))."""
    return Decimal(amount).scaleb(-get_currency_precision(currency.upper()))


# Babel is slow for a call made once per book on every page, and prices repeat: cache them.
@lru_cache(maxsize=4096)
def format_money(amount: int, currency: str, locale: str = "en_SG") -> str:
    """Format an amount in minor units for people: format_money(2300, 'sgd') == '23.00 SGD'."""
    code = currency.upper()
    return format_currency(to_major(amount, code), code, format=PATTERN, locale=locale)


def plain_amount(amount: int, currency: str, locale: str) -> str:
    """An amount as a form field shows it: major units, the currency's decimals, no grouping and
    no code (1250 SGD cents -> "12.50")."""
    digits = get_currency_precision(currency.upper())
    pattern = "0." + "0" * digits if digits else "0"
    return format_decimal(to_major(amount, currency), format=pattern, locale=locale)


def parse_money(typed: str, currency: str, locale: str, what: str = "the amount") -> int:
    """An amount staff typed in major units, as `locale` writes numbers ("12.50", "1,250.50",
    with or without the currency's code after it), in minor units; ValueError says what to type
    instead, naming `what`. More decimals than the currency has are refused, never rounded away;
    the sign is the caller's to check."""
    code = currency.upper()
    text = typed.strip()
    if text.upper().endswith(code):
        text = text[: -len(code)].strip()
    like = f"like {plain_amount(1250, code, locale)}"
    if not text:
        raise ValueError(f"Enter {what}, {like}.")
    # Letters: Decimal would read "1e3", "NaN" and "Infinity" as numbers.
    if len(text) > MAX_TYPED_LENGTH or any(char.isalpha() for char in text):
        raise ValueError(f"Enter {what} as a number, {like}.")
    try:
        amount = parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        raise ValueError(f"Enter {what} as a number, {like}.") from None
    digits = get_currency_precision(code)
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        allowed = f"at most {digits} decimal places" if digits else "no decimal places"
        raise ValueError(f"{code} amounts have {allowed}: {like}.")
    return int(minor)
