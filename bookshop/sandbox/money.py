"""Currencies the sandbox accepts, their minor units and Stripe's minimum charge amounts."""

from __future__ import annotations

ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
# Stripe's minimum charge amounts in minor units (docs.stripe.com/currencies, "Minimum and
# maximum charge amounts").
MINIMUM_AMOUNTS: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
# Other presentment currencies Stripe supports; their minimum is taken as 50 minor units.
OTHER_CURRENCIES = frozenset(
    {
        "afn",
        "all",
        "amd",
        "ang",
        "aoa",
        "ars",
        "awg",
        "azn",
        "bam",
        "bbd",
        "bdt",
        "bif",
        "bmd",
        "bnd",
        "bob",
        "bsd",
        "bwp",
        "byn",
        "bzd",
        "cdf",
        "clp",
        "cny",
        "cop",
        "crc",
        "cve",
        "djf",
        "dop",
        "dzd",
        "egp",
        "etb",
        "fjd",
        "fkp",
        "gel",
        "gip",
        "gmd",
        "gnf",
        "gtq",
        "gyd",
        "hnl",
        "htg",
        "idr",
        "ils",
        "isk",
        "jmd",
        "kes",
        "kgs",
        "khr",
        "kmf",
        "krw",
        "kyd",
        "kzt",
        "lak",
        "lbp",
        "lkr",
        "lrd",
        "lsl",
        "mad",
        "mdl",
        "mga",
        "mkd",
        "mmk",
        "mnt",
        "mop",
        "mur",
        "mvr",
        "mwk",
        "mzn",
        "nad",
        "ngn",
        "nio",
        "npr",
        "pab",
        "pen",
        "pgk",
        "php",
        "pkr",
        "pyg",
        "qar",
        "rsd",
        "rub",
        "rwf",
        "sar",
        "sbd",
        "scr",
        "shp",
        "sle",
        "sos",
        "srd",
        "szl",
        "tjs",
        "top",
        "try",
        "ttd",
        "twd",
        "tzs",
        "uah",
        "ugx",
        "uyu",
        "uzs",
        "vnd",
        "vuv",
        "wst",
        "xaf",
        "xcd",
        "xof",
        "xpf",
        "yer",
        "zar",
        "zmw",
    }
)
SUPPORTED = frozenset(MINIMUM_AMOUNTS) | OTHER_CURRENCIES
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "sgd": "$", "aud": "$", "cad": "$"}
MAXIMUM_AMOUNT = 99_999_999


def minimum_amount(currency: str) -> int:
    """The smallest amount Stripe accepts in this currency, in minor units."""
    return MINIMUM_AMOUNTS.get(currency, 50)


def format_amount(amount: int, currency: str) -> str:
    """`$0.50`, `¥50`: how Stripe writes amounts in its error messages."""
    symbol = _SYMBOLS.get(currency, "")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount}"
    return f"{symbol}{amount // 100}.{amount % 100:02d}"


def display(amount: int, currency: str) -> str:
    """`26.00 SGD`, `2,600 JPY`: an amount in minor units as Stripe's dashboard shows it."""
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {code}"
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    return f"{sign}{major:,}.{minor:02d} {code}"


def supported_list() -> str:
    """The comma-separated list Stripe shows after an invalid currency."""
    return ", ".join(sorted(SUPPORTED))
