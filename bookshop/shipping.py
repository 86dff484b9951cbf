"""Where the shop ships and what delivery costs: zones of countries and their rates."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale

from bookshop.config import ConfigError

RATES_FILE = Path(__file__).with_name("shipping.toml")


@dataclass(frozen=True)
class Zone:
    """Countries that share a delivery price and time."""

    name: str
    countries: tuple[str, ...]
    first_book: int
    each_further_book: int
    free_from: int
    delivery: str

    def cost(self, books: int, subtotal: int) -> int:
        """Shipping for `books` copies costing `subtotal` in all (minor units)."""
        if books <= 0 or subtotal >= self.free_from:
            return 0
        return self.first_book + (books - 1) * self.each_further_book


class Rates:
    """The shop's zones, in the order the file lists them."""

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = tuple(zones)
        self._by_country: dict[str, Zone] = {}
        for zone in zones:
            for country in zone.countries:
                other = self._by_country.setdefault(country, zone)
                if other is not zone:
                    raise ConfigError(
                        f"shipping: {country} is in two zones, {other.name!r} and "
                        f"{zone.name!r}: a country may be in one shipping zone only."
                    )

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country the shop ships to (ISO 3166 alpha-2 codes)."""
        return tuple(self._by_country)

    def zone(self, country: str) -> Zone | None:
        """The zone a country is in, or None when the shop does not ship to it."""
        return self._by_country.get(country)


def load_rates(path: Path = RATES_FILE) -> Rates:
    """Read and check a rates file; ConfigError names the zone and the field or country that is
    wrong, so that a mistake stops the shop at start rather than failing an address step."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"shipping: {path.name} cannot be read: {error}.") from None
    entries = data.get("zones")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"shipping: {path.name} lists no [[zones]].")
    return Rates([_zone(entry, number) for number, entry in enumerate(entries, 1)])


def _zone(entry: dict[str, Any], number: int) -> Zone:
    name = entry.get("name")
    where = (
        f"shipping: zone {name!r}" if isinstance(name, str) and name else f"shipping: zone {number}"
    )
    fields: dict[str, Any] = {
        field.name: entry.get(field.name) for field in dataclasses.fields(Zone)
    }
    missing = [field for field, value in fields.items() if value is None]
    if missing:
        raise ConfigError(f"{where} has no {', '.join(missing)}.")
    if not isinstance(fields["name"], str) or not isinstance(fields["delivery"], str):
        raise ConfigError(f"{where} needs its name and delivery as text.")
    amounts = (fields["first_book"], fields["each_further_book"], fields["free_from"])
    if not all(isinstance(amount, int) and amount >= 0 for amount in amounts):
        raise ConfigError(f"{where} needs whole, non-negative amounts.")
    countries = fields["countries"]
    if not isinstance(countries, list) or not countries:
        raise ConfigError(f"{where} lists no countries.")
    for code in countries:
        if not (isinstance(code, str) and len(code) == 2 and code in _country_codes()):
            raise ConfigError(f"{where} lists {code!r}, which is not a 2-letter country code.")
    return Zone(
        name=fields["name"],
        countries=tuple(countries),
        first_book=fields["first_book"],
        each_further_book=fields["each_further_book"],
        free_from=fields["free_from"],
        delivery=fields["delivery"],
    )


@cache
def _country_codes() -> frozenset[str]:
    # ISO 3166 alpha-2 codes, as Babel's CLDR data knows them (it also lists regions like "001").
    territories: Mapping[str, str] = Locale("en").territories
    return frozenset(code for code in territories if code.isalpha())


@cache
def default_rates() -> Rates:
    """The shop's rates, read once per process."""
    return load_rates(RATES_FILE)
