"""Shipping rates: zones of countries, a price for the first book and each further one, free
delivery from a threshold, and no zone for a country the shop does not ship to."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookshop.config import ConfigError
from bookshop.shipping import default_rates, load_rates


def test_the_shops_zones_price_the_first_book_each_further_one_and_free_delivery() -> None:
    rates = default_rates()
    singapore, malaysia, britain = (rates.zone(code) for code in ("SG", "MY", "GB"))
    assert singapore is not None and malaysia is not None and britain is not None
    assert singapore.cost(1, 2900) == 300
    assert singapore.cost(3, 5900) == 300 + 2 * 100
    assert singapore.cost(3, 6000) == 0  # from 60.00 SGD of books, delivery is free
    assert malaysia.cost(2, 5800) == 900 + 300
    assert britain.cost(1, 2900) == 1800
    assert (singapore.delivery, britain.name) == ("1-2 working days", "Rest of the world")


def test_a_country_in_no_zone_has_no_delivery() -> None:
    rates = default_rates()
    assert rates.zone("KP") is None and "KP" not in rates.countries
    assert {"SG", "MY", "US", "GB", "AU", "DE", "FR", "NL"} <= set(rates.countries)


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        (
            '[[zones]]\nname="A"\ncountries=["SG"]\nfirst_book=-1\neach_further_book=0\n'
            'free_from=0\ndelivery="x"',
            "non-negative",
        ),
        (
            '[[zones]]\nname="A"\ncountries=["Singapore"]\nfirst_book=1\neach_further_book=0\n'
            'free_from=0\ndelivery="x"',
            "2-letter",
        ),
        (
            '[[zones]]\nname="A"\ncountries=["SG"]\nfirst_book=1\neach_further_book=0\n'
            'free_from=0\ndelivery="x"\n[[zones]]\nname="B"\ncountries=["SG"]\nfirst_book=1\n'
            'each_further_book=0\nfree_from=0\ndelivery="x"',
            "SG is in two zones, 'A' and 'B'",
        ),
        (
            '[[zones]]\nname="Europe"\ncountries=["FR", "UK"]\nfirst_book=1\neach_further_book=0\n'
            'free_from=0\ndelivery="x"',
            "zone 'Europe' lists 'UK', which is not a 2-letter country code",
        ),
        (
            '[[zones]]\nname="Europe"\ncountries=["FR"]\nfirst_book=1\ndelivery="x"',
            "zone 'Europe' has no each_further_book, free_from",
        ),
        ('[[zones]]\nname="Europe"\ncountries=["FR"\n', "shipping.toml cannot be read"),
        ('zone = "Europe"', "lists no \\[\\[zones\\]\\]"),
    ],
)
def test_a_rates_file_that_cannot_work_is_refused(tmp_path: Path, zones: str, message: str) -> None:
    path = tmp_path / "shipping.toml"
    path.write_text(zones)
    with pytest.raises(ConfigError, match=message) as refused:
        load_rates(path)
    assert "\n" not in str(refused.value)
