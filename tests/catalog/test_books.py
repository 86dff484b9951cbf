"""The rules every book keeps: what `make_book` refuses, field by field."""

from __future__ import annotations

import pytest

from bookshop.catalog.books import InvalidBook, make_book


def test_each_wrong_field_has_its_own_message_and_the_error_says_them_all() -> None:
    with pytest.raises(InvalidBook) as refused:
        make_book({"id": "Not A Slug", "title": "", "author": "A", "blurb": "x\u202e", "price": 0})
    fields = refused.value.fields
    assert list(fields) == ["id", "title", "blurb", "price"]
    assert fields["title"] == "title is missing"
    assert fields["blurb"] == "blurb holds a control or invisible character"
    assert str(refused.value) == "; ".join(fields.values())


def test_a_blurb_may_hold_line_breaks_but_no_carriage_return() -> None:
    fields = {"id": "one", "title": "One", "author": "A", "price": 100}
    assert make_book({**fields, "blurb": "First.\nSecond."}).blurb == "First.\nSecond."
    with pytest.raises(InvalidBook) as refused:
        make_book({**fields, "blurb": "First.\r\nSecond."})
    assert list(refused.value.fields) == ["blurb"]
