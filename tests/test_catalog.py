"""The catalog file and its lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookshop.catalog import default_catalog, load_catalog


def test_catalog_has_at_least_twelve_books_with_the_starters_three() -> None:
    catalog = default_catalog()
    assert len(catalog.books) >= 12
    prices = {book.title: book.price for book in catalog.books}
    assert prices["The Art of Doing Science and Engineering"] == 2300
    assert prices["The Making of Prince of Persia: Journals 1985-1993"] == 2500
    assert prices["Working in Public: The Making and Maintenance of Open Source"] == 2800


def test_search_blank_query_returns_everything() -> None:
    catalog = default_catalog()
    assert catalog.search("   ") == catalog.books


def test_bad_catalog_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "books.toml"
    path.write_text(
        '[[books]]\nid = "Bad Id"\ntitle = "t"\nauthor = "a"\nblurb = "b"\nprice = 100\n'
    )
    with pytest.raises(ValueError, match="slug"):
        load_catalog(path)
    path.write_text('[[books]]\nid = "ok"\ntitle = "t"\nauthor = "a"\nblurb = "b"\nprice = 1.5\n')
    with pytest.raises(ValueError, match="whole price"):
        load_catalog(path)
    for entry, message in (
        (f'id = "{"a" * 61}"\nprice = 100', "at most 60"),
        ('id = "ok"\nprice = 1_000_000_000', "at most 999999999"),
    ):
        path.write_text(f'[[books]]\n{entry}\ntitle = "t"\nauthor = "a"\nblurb = "b"\n')
        with pytest.raises(ValueError, match=message):
            load_catalog(path)
