"""Reading what shoppers send: any text is a value or a clear 4xx, never a crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import BadRequest, UnprocessableEntity

from bookshop.forms import parse_amount, parse_email, parse_quantity, whole_number

# Text a form field may hold, digits of every script and the odd control character included.
FIELD = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.from_regex(r"\s*[0-9]{1,4}\s*"),
    # Digits to str.isdigit() that are not ASCII: superscript, Arabic-Indic, full-width.
    st.sampled_from(["\u00b2", "\u0663", "\uff11"]),
)


@settings(max_examples=400, deadline=None)
@given(FIELD)
def test_any_quantity_is_one_to_ten_or_a_400_or_422(raw: str | None) -> None:
    with contextlib.suppress(BadRequest, UnprocessableEntity):
        assert 1 <= parse_quantity(raw) <= 10


@settings(max_examples=400, deadline=None)
@given(FIELD)
def test_any_total_is_a_whole_number_or_a_400(raw: str | None) -> None:
    with contextlib.suppress(BadRequest):
        assert parse_amount(raw) >= 0


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_email_is_kept_or_a_422(raw: str) -> None:
    with contextlib.suppress(UnprocessableEntity):
        assert "@" in parse_email(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("7", 7), (" 12 ", 12), ("\u00b2", None), ("\u0661", None), ("1e3", None), ("", None)],
)
def test_a_whole_number_is_ascii_digits_only(raw: str, value: int | None) -> None:
    assert whole_number(raw, 4) == value
