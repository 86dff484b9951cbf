"""Where the shop ships and what delivery costs: zones of countries and their rates."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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
        self._by_country = {country: zone for zone in zones for country in zone.countries}
        if len(self._by_country) != sum(len(zone.countries) for zone in zones):
            raise ValueError("a country may be in one shipping zone only")

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country the shop ships to (ISO 3166 alpha-2 codes)."""
        return tuple(self._by_country)

    def zone(self, country: str) -> Zone | None:
        """The zone a country is in, or None when the shop does not ship there."""
        return self._by_country.get(country)


def load_rates(path: Path = RATES_FILE) -> Rates:
    """Read and check a rates file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    zones = []
    for entry in data["zones"]:
        zone = Zone(
            name=entry["name"],
            countries=tuple(entry["countries"]),
            first_book=entry["first_book"],
            each_further_book=entry["each_further_book"],
            free_from=entry["free_from"],
            delivery=entry["delivery"],
        )
        amounts = (zone.first_book, zone.each_further_book, zone.free_from)
        if not all(isinstance(amount, int) and amount >= 0 for amount in amounts):
            raise ValueError(f"zone {zone.name!r} needs whole, non-negative amounts")
        if not all(len(code) == 2 and code.isupper() for code in zone.countries):
            raise ValueError(f"zone {zone.name!r} lists a country that is not a 2-letter code")
        zones.append(zone)
    return Rates(zones)


@cache
def default_rates() -> Rates:
    """The shop's rates, read once per process."""
    return load_rates()
