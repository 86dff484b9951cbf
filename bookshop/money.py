"""Money: integer amounts in a currency's minor unit, formatted by Babel."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision

# Amount then ISO code ("23.00 SGD") is unambiguous where "$" is not; Babel still applies each
# currency's own number of decimals (none for JPY, three for KWD).
PATTERN = "#,##0.00\xa0¤¤"


def to_major(amount: int, currency: str) -> Decimal:
    """The amount in major units (2300 SGD cents -> Decimal('23.00'))."""
    return Decimal(amount).scaleb(-get_currency_precision(currency.upper()))


# Babel is slow for a call made once per book on every page, and prices repeat: cache them.
@lru_cache(maxsize=4096)
def format_money(amount: int, currency: str, locale: str = "en_SG") -> str:
    """Format an amount in minor units for people: format_money(2300, 'sgd') == '23.00 SGD'."""
    code = currency.upper()
    return format_currency(to_major(amount, code), code, format=PATTERN, locale=locale)
