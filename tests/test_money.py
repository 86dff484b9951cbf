"""Money formatting by Babel, in each currency's own minor unit."""

from __future__ import annotations

import pytest

from bookshop.money import format_money, to_major


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (2300, "sgd", "23.00\xa0SGD"),
        (123456, "usd", "1,234.56\xa0USD"),
        (5, "usd", "0.05\xa0USD"),
        (2300, "jpy", "2,300\xa0JPY"),  # zero-decimal: 2300 yen, not 23.00
        (12345, "kwd", "12.345\xa0KWD"),  # three decimals
    ],
)
def test_format_money_uses_the_currencys_minor_unit(
    amount: int, currency: str, expected: str
) -> None:
    assert format_money(amount, currency) == expected


def test_to_major_is_exact() -> None:
    assert str(to_major(2300, "SGD")) == "23.00"
    assert str(to_major(2300, "JPY")) == "2300"
