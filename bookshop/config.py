"""Settings read from the environment, checked once at start-up."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from babel.core import Locale, UnknownLocaleError
from babel.numbers import list_currencies
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MAX_SHOP_NAME = 60
RATE = re.compile(r"^\s*([1-9]\d*)\s*/\s*(second|minute|hour)\s*$")
# scheme://host[:port] and nothing more: page paths are appended to it.
PUBLIC_URL = re.compile(
    r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}))?", re.IGNORECASE
)
ENVIRONMENTS = ("development", "test", "production")
DEVELOPMENT_SECRET = "dev-only-not-secret"  # noqa: S105 - refused in production
# The local sandbox's own keys: it is a separate process (python -m bookshop.sandbox) that the shop
# starts with these and only talks to over HTTP; they open nothing anywhere else.
SANDBOX_SECRET_KEY = "sk_test_sandbox_0000000000000000"  # noqa: S105 - sandbox only
SANDBOX_PUBLISHABLE_KEY = "pk_test_sandbox_0000000000000000"
SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_0000000000000000"  # noqa: S105 - sandbox only
STRIPE_JS_URL = "https://js.stripe.com/v3/"
SEED_FILE = Path(__file__).parent / "catalog" / "books.toml"
# Settings renamed: the old name is still read when the new one is absent, with a warning.
RENAMED = {
    "SHOP_RATE_LIMIT_PAY": "SHOP_RATE_LIMIT_CHECKOUT",
    "SHOP_RATE_LIMIT_PAY_ALL": "SHOP_RATE_LIMIT_CHECKOUT_ALL",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)
_warned: set[str] = set()  # old names already warned about by this process


class ConfigError(Exception):
    """A setting is missing or inconsistent; the message says what to fix, in one line."""


@dataclass(frozen=True)
class Settings:
    """Everything the shop reads from its environment."""

    env: str = "development"
    secret_key: str = DEVELOPMENT_SECRET
    stripe_secret_key: str = SANDBOX_SECRET_KEY
    stripe_publishable_key: str = SANDBOX_PUBLISHABLE_KEY
    stripe_webhook_secret: str = SANDBOX_WEBHOOK_SECRET
    # None means Stripe itself; a URL means the local sandbox (or another stand-in).
    stripe_api_base: str | None = "http://127.0.0.1:12111"
    stripe_js_url: str = "http://127.0.0.1:12111/v3/"
    stripe_pool_size: int = 64
    stripe_timeout_seconds: float = 20.0
    stripe_max_retries: int = 2
    currency: str = "sgd"
    locale: str = "en_SG"
    # Where shoppers reach the shop (https://books.example): absolute URLs (canonical links,
    # JSON-LD, the sitemap) are built on it. None: on the request's host, for development only.
    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    sandbox_port: int = 12111
    database_url: str = "sqlite+aiosqlite:///var/bookshop.sqlite3"
    # The catalog file an empty database is filled from when the shop starts.
    catalog_seed: Path = SEED_FILE
    rate_limits: bool = True
    # The pay step (each creates and confirms a PaymentIntent at Stripe): per client address,
    # then for all clients together. A shopper retrying a declined card stays well under.
    rate_limit_pay: str = "10/minute"
    rate_limit_pay_all: str = "600/minute"
    rate_limit_status: str = "120/minute"
    # How long a checkout's copies stay reserved for a payment that waits (3D Secure).
    reservation_minutes: int = 15
    # Where several shop processes keep their rate-limit counters; None: each in its own memory.
    redis_url: str | None = None
    # The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; no one's by default.
    trusted_proxies: tuple[Network, ...] = ()
    # host:port of the Prometheus metrics endpoint (never the shop's own port); None: no metrics.
    metrics_bind: tuple[str, int] | None = None
    # The shop's name in every page title and header, the emails and their sender.
    shop_name: str = "Bookshop"
    # Where mail goes out (smtp:// or smtps://, user and password in it); None: the sandbox's SMTP
    # server catches it (development and tests only).
    smtp_url: str | None = None
    mail_from: str = "orders@bookshop.test"
    sandbox_smtp_port: int = 12025

    @property
    def sandbox(self) -> bool:
        """True when the shop talks to the local Stripe sandbox instead of Stripe."""
        return self.stripe_api_base is not None

    @property
    def live(self) -> bool:
        """True when real money moves."""
        return self.stripe_secret_key.startswith(("sk_live_", "rk_live_"))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and check the settings from an environment mapping (default: os.environ)."""
    env = os.environ if environ is None else environ

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    stage = get("SHOP_ENV", "development")
    if stage not in ENVIRONMENTS:
        raise ConfigError(f"SHOP_ENV is {stage!r}: use one of {', '.join(ENVIRONMENTS)}.")

    secret = get("STRIPE_SECRET_KEY")
    publishable = get("STRIPE_PUBLISHABLE_KEY")
    api_base = get("STRIPE_API_BASE") or None
    sandbox_port = _integer(get("SANDBOX_PORT", "12111"), "SANDBOX_PORT", 1, 65535)
    if not secret and not publishable:
        if stage == "production":
            raise ConfigError(
                "STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY are empty: production takes real "
                "payments, so set your Stripe keys (without them the shop would use the sandbox)."
            )
        # No keys: the local sandbox stands in for Stripe.
        secret, publishable = SANDBOX_SECRET_KEY, SANDBOX_PUBLISHABLE_KEY
        api_base = api_base or f"http://127.0.0.1:{sandbox_port}"
    _check_keys(secret, publishable, api_base)
    if stage != "production" and _live(secret, publishable):
        raise ConfigError(
            f"Live Stripe keys with SHOP_ENV={stage}: use test keys (sk_test_, pk_test_), or set "
            "SHOP_ENV=production with a SHOP_SECRET_KEY of your own."
        )

    js_url = get("STRIPE_JS_URL") or (f"{api_base.rstrip('/')}/v3/" if api_base else STRIPE_JS_URL)
    webhook_secret = get("STRIPE_WEBHOOK_SECRET") or (SANDBOX_WEBHOOK_SECRET if api_base else "")
    if webhook_secret and not webhook_secret.startswith("whsec_"):
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET must start with whsec_ (Stripe dashboard: Webhooks)."
        )

    cookie_secret = get("SHOP_SECRET_KEY")
    if not cookie_secret:
        if stage == "production":
            raise ConfigError(
                "SHOP_SECRET_KEY is empty: set a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        cookie_secret = DEVELOPMENT_SECRET
    if stage == "production" and cookie_secret == DEVELOPMENT_SECRET:
        raise ConfigError("SHOP_SECRET_KEY is the development secret: set your own in production.")

    currency = get("SHOP_CURRENCY", "sgd").lower()
    locale = get("SHOP_LOCALE", "en_SG")
    if currency.upper() not in list_currencies():
        raise ConfigError(f"SHOP_CURRENCY {currency!r} is not an ISO 4217 currency code.")
    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        raise ConfigError(f"SHOP_LOCALE {locale!r} is not a known locale (e.g. en_SG).") from None

    public_url = _public_url(get("SHOP_PUBLIC_URL"))
    database_url = normalise_database_url(get("DATABASE_URL") or "sqlite:///var/bookshop.sqlite3")
    if stage == "production":
        _check_production(public_url, database_url)
    port = _integer(get("SHOP_PORT", "5000"), "SHOP_PORT", 1, 65535)
    metrics_bind = _bind(get("SHOP_METRICS_BIND"), "SHOP_METRICS_BIND")
    if metrics_bind is not None and metrics_bind[1] == port:
        raise ConfigError(
            "SHOP_METRICS_BIND uses SHOP_PORT: metrics need a port of their own, "
            "off the public one."
        )

    shop_name = get("SHOP_NAME", "Bookshop") or "Bookshop"
    if len(shop_name) > MAX_SHOP_NAME or not shop_name.isprintable():
        raise ConfigError(
            f"SHOP_NAME must be at most {MAX_SHOP_NAME} printable characters on one line."
        )
    smtp_url = _smtp_url(get("SMTP_URL"))
    mail_from = _mail_from(get("MAIL_FROM"), stage)
    if stage == "production" and smtp_url is None:
        raise ConfigError(
            "SMTP_URL is empty: production sends order emails through your mail server "
            "(smtp://user:password@mail.example:587, or smtps:// on port 465)."
        )

    return Settings(
        env=stage,
        secret_key=cookie_secret,
        stripe_secret_key=secret,
        stripe_publishable_key=publishable,
        stripe_webhook_secret=webhook_secret,
        stripe_api_base=api_base,
        stripe_js_url=js_url,
        stripe_pool_size=_integer(get("STRIPE_POOL_SIZE", "64"), "STRIPE_POOL_SIZE", 1, 1024),
        stripe_timeout_seconds=float(
            _integer(get("STRIPE_TIMEOUT_SECONDS", "20"), "STRIPE_TIMEOUT_SECONDS", 1, 120)
        ),
        stripe_max_retries=_integer(get("STRIPE_MAX_RETRIES", "2"), "STRIPE_MAX_RETRIES", 0, 5),
        currency=currency,
        locale=locale,
        public_url=public_url,
        host=get("SHOP_HOST", "127.0.0.1"),
        port=port,
        workers=_integer(get("SHOP_WORKERS", "1"), "SHOP_WORKERS", 1, 64),
        sandbox_port=sandbox_port,
        database_url=database_url,
        catalog_seed=_seed_file(get("SHOP_CATALOG_SEED")),
        rate_limits=get("SHOP_RATE_LIMITS", "on").lower() not in ("off", "0", "false", "no"),
        rate_limit_pay=_rate(*_renamed(get, "SHOP_RATE_LIMIT_PAY", "10/minute")),
        rate_limit_pay_all=_rate(*_renamed(get, "SHOP_RATE_LIMIT_PAY_ALL", "600/minute")),
        rate_limit_status=_rate(
            get("SHOP_RATE_LIMIT_STATUS", "120/minute"), "SHOP_RATE_LIMIT_STATUS"
        ),
        reservation_minutes=_integer(
            get("SHOP_RESERVATION_MINUTES", "15"), "SHOP_RESERVATION_MINUTES", 1, 1440
        ),
        redis_url=_redis_url(get("REDIS_URL")),
        trusted_proxies=_networks(get("SHOP_TRUSTED_PROXIES")),
        metrics_bind=metrics_bind,
        shop_name=shop_name,
        smtp_url=smtp_url,
        mail_from=mail_from,
        sandbox_smtp_port=_integer(
            get("SANDBOX_SMTP_PORT", "12025"), "SANDBOX_SMTP_PORT", 1, 65535
        ),
    )


def _check_production(public_url: str | None, database_url: str) -> None:
    # What would make a production shop wrong rather than merely slow: URLs built from a Host
    # header anyone can forge, or a database that moves with the directory it was started in.
    if public_url is None:
        raise ConfigError(
            "SHOP_PUBLIC_URL is empty: production builds every absolute URL on it "
            "(e.g. https://books.example), never on the request's Host header."
        )
    if not public_url.startswith("https://"):
        raise ConfigError(f"SHOP_PUBLIC_URL is {public_url!r}: production is served over https://.")
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_absolute():
        raise ConfigError(
            f"DATABASE_URL names a relative SQLite path ({parsed.database or 'in memory'!s}): in "
            "production give an absolute one (sqlite:////srv/bookshop/shop.sqlite3) or PostgreSQL."
        )


def normalise_database_url(url: str) -> str:
    """The URL with its async driver: postgresql:// -> +asyncpg, sqlite:/// -> +aiosqlite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL {url!r} is not a database URL "
            "(sqlite:///var/bookshop.sqlite3 or postgresql://user:pass@host/db)."
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise ConfigError(f"DATABASE_URL uses {backend!r}: use sqlite:/// or postgresql://.")


def _check_keys(secret: str, publishable: str, api_base: str | None) -> None:
    if secret and not publishable:
        raise ConfigError(
            "STRIPE_SECRET_KEY is set but STRIPE_PUBLISHABLE_KEY is empty: set both "
            "(Stripe dashboard > Developers > API keys), or neither to use the local sandbox."
        )
    if publishable and not secret:
        raise ConfigError(
            "STRIPE_PUBLISHABLE_KEY is set but STRIPE_SECRET_KEY is empty: set both, "
            "or neither to use the local sandbox."
        )
    if not secret.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise ConfigError("STRIPE_SECRET_KEY must start with sk_test_ or sk_live_.")
    if not publishable.startswith(("pk_test_", "pk_live_")):
        raise ConfigError("STRIPE_PUBLISHABLE_KEY must start with pk_test_ or pk_live_.")
    secret_live = "_live_" in secret[:8]
    if secret_live != publishable.startswith("pk_live_"):
        raise ConfigError(
            "STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY mix test and live mode: "
            "use both test keys or both live keys."
        )
    if api_base is None:
        return
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"STRIPE_API_BASE {api_base!r} is not an http(s) URL.")
    if parts.scheme == "http" and secret_live:
        raise ConfigError("STRIPE_API_BASE uses http:// with a live key: live keys need https.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            "STRIPE_API_BASE uses http:// off this machine: only a local sandbox may use http."
        )


def _live(secret: str, publishable: str) -> bool:
    return secret.startswith(("sk_live_", "rk_live_")) or publishable.startswith("pk_live_")


def _renamed(get: Callable[[str], str], name: str, default: str) -> tuple[str, str]:
    # The value of a renamed setting and the name it came from: the new name, else the old one
    # (warned about once per process), else the default.
    old = RENAMED[name]
    value, old_value = get(name), get(old)
    if old_value and old not in _warned:
        _warned.add(old)
        if value:
            log.warning("%s is no longer read (%s is set): remove it from .env.", old, name)
        else:
            log.warning(
                "%s is now called %s (it limits the pay step): rename it in .env; "
                "its value is used meanwhile.",
                old,
                name,
            )
    if value:
        return value, name
    if old_value:
        return old_value, old
    return default, name


def _seed_file(raw: str) -> Path:
    path = Path(raw) if raw else SEED_FILE
    if not path.is_file():
        raise ConfigError(f"SHOP_CATALOG_SEED {raw!r} is not a file: name a TOML catalog file.")
    return path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_url(raw: str) -> str | None:
    url = raw.removesuffix("/")
    if not url:
        return None
    match = PUBLIC_URL.fullmatch(url)
    if match is None or not 0 < int(match["port"] or 443) <= 65535:
        raise ConfigError(
            f"SHOP_PUBLIC_URL is {raw!r}: use the scheme and host shoppers see, with a port "
            "if needed and no path (e.g. https://books.example)."
        )
    return url


def _smtp_url(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise ConfigError(
            "SMTP_URL is not a mail server's URL: use smtp://user:password@mail.example:587 "
            "(STARTTLS when the server offers it) or smtps://...:465 (TLS from the start)."
        )
    return raw


def _mail_from(raw: str, stage: str) -> str:
    if not raw:
        if stage == "production":
            raise ConfigError("MAIL_FROM is empty: name the address order emails come from.")
        return "orders@bookshop.test"
    name, address = parseaddr(raw)
    if name or "@" not in address or address != raw:
        raise ConfigError(
            f"MAIL_FROM is {raw!r}: give the address alone (orders@books.example); "
            "the sender's name is SHOP_NAME."
        )
    return address


def _redis_url(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ConfigError(
            "REDIS_URL is not a Redis URL: use redis://host:6379/0 (rediss:// for TLS)."
        )
    return raw


def _networks(raw: str) -> tuple[Network, ...]:
    networks = []
    for each in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(each, strict=False))
        except ValueError:
            raise ConfigError(
                f"SHOP_TRUSTED_PROXIES names {each!r}: list addresses or networks "
                "(10.0.0.5, 172.16.0.0/12), separated by commas."
            ) from None
    return tuple(networks)


def _bind(raw: str, name: str) -> tuple[str, int] | None:
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise ConfigError(f"{name} is {raw!r}: use host:port, e.g. 127.0.0.1:9100.")
    return host, _integer(port, name, 1, 65535)


def _rate(raw: str, name: str) -> str:
    if not RATE.match(raw):
        raise ConfigError(
            f"{name} is {raw!r}: use a rate like 30/minute (per second, minute or hour)."
        )
    return raw


def _integer(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} is {raw!r}: use a whole number from {low} to {high}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} is {value}: use a whole number from {low} to {high}.")
    return value
