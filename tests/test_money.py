"""Money formatting by Babel, in each currency's own minor unit."""

from __future__ import annotations

import re

import pytest

from bookshop.money import format_money, parse_money, plain_amount, to_major


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


@pytest.mark.parametrize(
    ("typed", "currency", "locale", "minor"),
    [
        ("12.50", "sgd", "en_SG", 1250),
        (" 1,250.50 SGD ", "sgd", "en_SG", 125050),
        ("12,50", "eur", "de_DE", 1250),
        ("1200", "jpy", "ja_JP", 1200),
        ("0.125", "kwd", "ar_KW", 125),
        ("-5", "sgd", "en_SG", -500),  # the sign is the caller's to refuse
    ],
)
def test_money_typed_is_read_in_the_currencys_minor_units_as_the_locale_writes_it(
    typed: str, currency: str, locale: str, minor: int
) -> None:
    assert parse_money(typed, currency, locale) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("", "sgd", "Enter the amount, like 12.50."),
        ("1e3", "sgd", "Enter the amount as a number, like 12.50."),
        ("NaN", "sgd", "Enter the amount as a number, like 12.50."),
        ("9" * 31, "sgd", "Enter the amount as a number, like 12.50."),
        ("12.505", "sgd", "SGD amounts have at most 2 decimal places: like 12.50."),
        ("5.5", "jpy", "JPY amounts have no decimal places: like 1250."),
    ],
)
def test_money_that_is_not_an_amount_says_what_to_type_never_rounds(
    typed: str, currency: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_money(typed, currency, "en_SG")


def test_an_amount_shows_in_a_form_field_without_grouping_or_code() -> None:
    assert plain_amount(125050, "sgd", "en_SG") == "1250.50"
    assert plain_amount(1200, "jpy", "ja_JP") == "1200"
