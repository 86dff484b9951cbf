"""Settings: sandbox by default, one-line refusals for inconsistent settings."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bookshop import config
from bookshop.config import ConfigError, load_settings

TEST_KEYS = {"STRIPE_SECRET_KEY": "sk_test_abc", "STRIPE_PUBLISHABLE_KEY": "pk_test_abc"}
LIVE_KEYS = {"STRIPE_SECRET_KEY": "sk_live_abc", "STRIPE_PUBLISHABLE_KEY": "pk_live_abc"}
# Everything production needs, with test keys.
PRODUCTION = {
    **TEST_KEYS,
    "SHOP_ENV": "production",
    "SHOP_SECRET_KEY": "x" * 40,
    "SHOP_PUBLIC_URL": "https://books.example",
    "DATABASE_URL": "postgresql://shop@127.0.0.1/shop",
    "SMTP_URL": "smtp://shop:secret@mail.example:587",
    "MAIL_FROM": "orders@books.example",
}


@dataclass(frozen=True)
class Renames:
    """What load_settings has warned about renamed settings, so far."""

    caplog: pytest.LogCaptureFixture

    @property
    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "bookshop.config"]


def test_no_keys_means_the_local_sandbox() -> None:
    settings = load_settings({})
    assert settings.sandbox
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_js_url == "http://127.0.0.1:12111/v3/"
    assert settings.stripe_secret_key.startswith("sk_test_sandbox")
    assert settings.currency == "sgd"
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)


def test_real_keys_mean_stripe_and_its_hosted_stripe_js() -> None:
    settings = load_settings(TEST_KEYS)
    assert not settings.sandbox
    assert settings.stripe_js_url == "https://js.stripe.com/v3/"


def test_host_port_and_currency_are_configurable() -> None:
    settings = load_settings(
        {"SHOP_HOST": "127.0.0.2", "SHOP_PORT": "8080", "SHOP_CURRENCY": "JPY"}
    )
    assert (settings.host, settings.port, settings.currency) == ("127.0.0.2", 8080, "jpy")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"STRIPE_SECRET_KEY": "sk_test_abc"}, "STRIPE_PUBLISHABLE_KEY is empty"),
        ({"STRIPE_PUBLISHABLE_KEY": "pk_test_abc"}, "STRIPE_SECRET_KEY is empty"),
        (
            {"STRIPE_SECRET_KEY": "sk_test_abc", "STRIPE_PUBLISHABLE_KEY": "pk_live_abc"},
            "mix test and live",
        ),
        (
            {
                "STRIPE_SECRET_KEY": "sk_live_abc",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_abc",
                "STRIPE_API_BASE": "http://127.0.0.1:12111",
            },
            "http:// with a live key",
        ),
        ({**TEST_KEYS, "STRIPE_API_BASE": "http://stripe.example"}, "off this machine"),
        ({**TEST_KEYS, "SHOP_ENV": "production"}, "SHOP_SECRET_KEY is empty"),
        (
            {**TEST_KEYS, "SHOP_ENV": "production", "SHOP_SECRET_KEY": "dev-only-not-secret"},
            "development secret",
        ),
        ({"SHOP_ENV": "production", "SHOP_SECRET_KEY": "x" * 40}, "production takes real"),
        ({**PRODUCTION, "SHOP_PUBLIC_URL": ""}, "SHOP_PUBLIC_URL is empty"),
        ({**PRODUCTION, "SHOP_PUBLIC_URL": "http://books.example"}, "served over https://"),
        ({**PRODUCTION, "DATABASE_URL": "sqlite:///var/shop.sqlite3"}, "relative SQLite path"),
        ({**PRODUCTION, "DATABASE_URL": "sqlite://"}, "relative SQLite path"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"),
        ({"SHOP_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"}, "'proxy.internal'"),
        ({"SHOP_TRUSTED_PROXIES": "10.0.0.0/33"}, "'10.0.0.0/33'"),
        ({"SHOP_METRICS_BIND": "9100"}, "SHOP_METRICS_BIND"),
        ({"SHOP_METRICS_BIND": "127.0.0.1:http"}, "SHOP_METRICS_BIND"),
        ({"SHOP_METRICS_BIND": "127.0.0.1:5000"}, "a port of their own"),
        ({**PRODUCTION, "SMTP_URL": ""}, "SMTP_URL is empty"),
        ({**PRODUCTION, "MAIL_FROM": ""}, "MAIL_FROM is empty"),
        ({"SMTP_URL": "mail.example:587"}, "SMTP_URL"),
        ({"SMTP_URL": "http://mail.example"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example:port"}, "SMTP_URL"),
        ({"MAIL_FROM": "Books <orders@books.example>"}, "the sender's name is SHOP_NAME"),
        ({"MAIL_FROM": "orders"}, "MAIL_FROM"),
        ({"MAIL_FROM": "orders@books.example\r\nBcc: all@example.com"}, "MAIL_FROM"),
        ({"SHOP_NAME": "x" * 61}, "SHOP_NAME"),
        ({"SHOP_NAME": "Books\nBcc: x"}, "SHOP_NAME"),
        ({"SHOP_ENV": "staging"}, "SHOP_ENV"),
        ({"SHOP_PORT": "http"}, "SHOP_PORT"),
        ({"SHOP_CURRENCY": "xyz"}, "SHOP_CURRENCY"),
        ({"STRIPE_SECRET_KEY": "abc", "STRIPE_PUBLISHABLE_KEY": "pk_test_abc"}, "sk_test_"),
        ({**TEST_KEYS, "STRIPE_WEBHOOK_SECRET": "nope"}, "whsec_"),
        ({"DATABASE_URL": "mysql://db/shop"}, "DATABASE_URL"),
        ({"SHOP_RATE_LIMIT_PAY": "lots"}, "SHOP_RATE_LIMIT_PAY"),
        ({"SHOP_RATE_LIMIT_PAY_ALL": "1/fortnight"}, "SHOP_RATE_LIMIT_PAY_ALL"),
        ({"SHOP_RATE_LIMIT_CHECKOUT": "lots"}, "SHOP_RATE_LIMIT_CHECKOUT"),
        *(
            ({**LIVE_KEYS, **stage}, "Live Stripe keys")
            for stage in (
                {},
                {"SHOP_ENV": "development"},
                {"SHOP_ENV": "development", "SHOP_SECRET_KEY": "x" * 40},
                {"SHOP_ENV": "test", "SHOP_SECRET_KEY": "x" * 40},
            )
        ),
        (
            {
                "STRIPE_SECRET_KEY": "rk_live_abc",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_abc",
                "SHOP_ENV": "test",
            },
            "Live Stripe keys with SHOP_ENV=test",
        ),
        ({**LIVE_KEYS, "SHOP_ENV": "production"}, "SHOP_SECRET_KEY is empty"),
        (
            {**LIVE_KEYS, "SHOP_ENV": "production", "SHOP_SECRET_KEY": "dev-only-not-secret"},
            "development secret",
        ),
        *(
            ({"SHOP_PUBLIC_URL": url}, "SHOP_PUBLIC_URL")
            for url in (
                "books.example",
                "ftp://books.example",
                "https://books.example/shop",
                "https://books.example?x=1",
                "https://books.example#top",
                "https://user@books.example",
                "https://books.example:99999",
                "https://",
            )
        ),
    ],
)
def test_inconsistent_settings_are_refused_with_one_line(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_public_url_is_optional_and_kept_without_a_trailing_slash() -> None:
    assert load_settings({}).public_url is None
    for url in ("https://books.example", "https://books.example/", "http://127.0.0.1:5000"):
        assert load_settings({"SHOP_PUBLIC_URL": url}).public_url == url.removesuffix("/")


def test_production_with_its_own_secret_starts() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.env == "production"


def test_production_may_keep_its_sqlite_file_at_an_absolute_path() -> None:
    settings = load_settings({**PRODUCTION, "DATABASE_URL": "sqlite:////srv/shop/shop.sqlite3"})
    assert settings.database_url == "sqlite+aiosqlite:////srv/shop/shop.sqlite3"


def test_redis_proxies_and_metrics_are_read_when_set() -> None:
    settings = load_settings(
        {
            "REDIS_URL": "redis://:secret@127.0.0.1:6379/0",
            "SHOP_TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12 ::1",
            "SHOP_METRICS_BIND": "[::1]:9100",
        }
    )
    assert settings.redis_url == "redis://:secret@127.0.0.1:6379/0"
    assert [str(network) for network in settings.trusted_proxies] == [
        "10.0.0.5/32",
        "172.16.0.0/12",
        "::1/128",
    ]
    assert settings.metrics_bind == ("::1", 9100)


def test_the_shop_is_named_and_sends_mail_as_configured() -> None:
    settings = load_settings(
        {"SHOP_NAME": "Kinokuniya", "MAIL_FROM": "shop@books.example", "SMTP_URL": "smtps://h"}
    )
    assert (settings.shop_name, settings.mail_from, settings.smtp_url) == (
        "Kinokuniya",
        "shop@books.example",
        "smtps://h",
    )
    default = load_settings({})
    assert (default.shop_name, default.smtp_url, default.sandbox_smtp_port) == (
        "Bookshop",
        None,
        12025,
    )


def test_with_none_of_them_the_shop_counts_trusts_and_exports_nothing() -> None:
    settings = load_settings({})
    assert (settings.redis_url, settings.trusted_proxies, settings.metrics_bind) == (None, (), None)


@pytest.mark.parametrize("secret_key", ["sk_live_abc", "rk_live_abc"])
def test_live_keys_start_in_production_with_its_own_secret(secret_key: str) -> None:
    settings = load_settings(
        {
            **PRODUCTION,
            "STRIPE_SECRET_KEY": secret_key,
            "STRIPE_PUBLISHABLE_KEY": "pk_live_abc",
        }
    )
    assert (settings.env, settings.live, settings.sandbox) == ("production", True, False)


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Renames:
    """The warnings about renamed settings load_settings logs (each once per process)."""
    monkeypatch.setattr(config, "_warned", set())
    caplog.set_level(logging.WARNING, logger="bookshop.config")
    return Renames(caplog)


def test_the_pay_step_rate_limits_have_their_defaults(renames: Renames) -> None:
    settings = load_settings({})
    assert (settings.rate_limit_pay, settings.rate_limit_pay_all) == ("10/minute", "600/minute")
    assert settings.rate_limit_status == "120/minute"
    assert renames.messages == []


def test_the_pay_step_rate_limits_are_configurable(renames: Renames) -> None:
    settings = load_settings(
        {"SHOP_RATE_LIMIT_PAY": "3/minute", "SHOP_RATE_LIMIT_PAY_ALL": "9/second"}
    )
    assert (settings.rate_limit_pay, settings.rate_limit_pay_all) == ("3/minute", "9/second")
    assert renames.messages == []


def test_the_old_rate_limit_names_are_read_with_a_warning_once(renames: Renames) -> None:
    old = {"SHOP_RATE_LIMIT_CHECKOUT": "5/minute", "SHOP_RATE_LIMIT_CHECKOUT_ALL": "50/minute"}
    first, second = load_settings(old), load_settings(old)
    for settings in (first, second):
        assert (settings.rate_limit_pay, settings.rate_limit_pay_all) == ("5/minute", "50/minute")
    assert len(renames.messages) == 2
    assert "SHOP_RATE_LIMIT_CHECKOUT is now called SHOP_RATE_LIMIT_PAY " in renames.messages[0]
    assert (
        "SHOP_RATE_LIMIT_CHECKOUT_ALL is now called SHOP_RATE_LIMIT_PAY_ALL "
        in (renames.messages[1])
    )
    assert all("\n" not in message for message in renames.messages)


def test_the_new_rate_limit_names_win_over_the_old(renames: Renames) -> None:
    settings = load_settings({"SHOP_RATE_LIMIT_PAY": "4/minute", "SHOP_RATE_LIMIT_CHECKOUT": "x"})
    assert settings.rate_limit_pay == "4/minute"
    assert renames.messages == [
        "SHOP_RATE_LIMIT_CHECKOUT is no longer read (SHOP_RATE_LIMIT_PAY is set): "
        "remove it from .env."
    ]


def test_the_shop_never_loads_the_sandbox_it_only_knows_its_address_and_keys() -> None:
    # A fresh interpreter: the test session itself has imported the sandbox for its fixtures.
    script = (
        "import sys; from bookshop import create_app; from bookshop.__main__ import main; "
        "create_app(); print(sorted(m for m in sys.modules if m.startswith('bookshop.sandbox')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "SHOP_ENV": "development"},
        timeout=60,
    )
    assert loaded.stdout.strip() == "[]"


def test_only_the_payments_package_imports_stripe_among_the_shops_own_modules() -> None:
    # The sandbox, a separate process, checks requests against stripe-python's types: any of
    # its modules may import stripe.
    package = Path(__file__).parents[1] / "bookshop"
    importers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(import stripe|from stripe\b)", path.read_text(), re.MULTILINE)
    }
    shop = {name for name in importers if not name.startswith("sandbox/")}
    assert shop == {"payments/gateway.py", "payments/transport.py"}
    assert importers - shop, "the sandbox checks requests against stripe-python's types"


def test_the_shops_sandbox_keys_are_the_ones_a_sandbox_started_alone_serves() -> None:
    # The shop passes its keys to the sandbox it starts; one started by hand must take the same.
    from bookshop import config
    from bookshop.sandbox import settings as sandbox

    assert (config.SANDBOX_SECRET_KEY, config.SANDBOX_PUBLISHABLE_KEY) == (
        sandbox.DEFAULT_SECRET_KEY,
        sandbox.DEFAULT_PUBLISHABLE_KEY,
    )
