"""Sandbox settings: defaults, SANDBOX_* variables, CLI flags and the loopback guard."""

from __future__ import annotations

import pytest

from bookshop.sandbox.__main__ import parse_args
from bookshop.sandbox.settings import (
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_SECRET_KEY,
    SandboxSettings,
    SettingsError,
    WebhookEndpoint,
    parse_webhook,
)


def test_defaults_are_the_documented_test_keys_on_loopback() -> None:
    settings = SandboxSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 12111)
    assert settings.secret_key == DEFAULT_SECRET_KEY == "sk_test_sandbox_0000000000000000"
    assert settings.publishable_key == DEFAULT_PUBLISHABLE_KEY == "pk_test_sandbox_0000000000000000"
    assert settings.confirmation_token_lifetime_s == 12 * 60 * 60  # Stripe's
    settings.validate()


def test_environment_variables_configure_the_sandbox() -> None:
    settings = SandboxSettings.from_env(
        {
            "SANDBOX_PORT": "4242",
            "SANDBOX_SECRET_KEY": "sk_test_other",
            "SANDBOX_LATENCY_MS": "25",
            "SANDBOX_CONFIRMATION_TOKEN_LIFETIME_S": "60",
            "SANDBOX_WEBHOOKS": "http://127.0.0.1:5000/hook?a=b=whsec_1, http://x.test/h=whsec_2",
        }
    )
    assert (settings.port, settings.secret_key, settings.latency_ms) == (4242, "sk_test_other", 25)
    assert settings.confirmation_token_lifetime_s == 60
    assert settings.webhooks == [
        WebhookEndpoint("http://127.0.0.1:5000/hook?a=b", "whsec_1"),
        WebhookEndpoint("http://x.test/h", "whsec_2"),
    ]


def test_flags_override_and_webhooks_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "9999")
    settings = parse_args(
        [
            "--port", "12345",
            "--webhook", "http://127.0.0.1:1/a=whsec_a",
            "--webhook", "http://127.0.0.1:1/b=whsec_b",
            "--fail-rate", "0.1",
            "--fail-mode", "drop",
            "--webhook-retries", "0.1,0.2",
            "--confirmation-token-lifetime", "5",
        ]
    )  # fmt: skip
    assert settings.port == 12345
    assert [w.secret for w in settings.webhooks] == ["whsec_a", "whsec_b"]
    assert (settings.fail_rate, settings.fail_mode) == (0.1, "drop")
    assert settings.webhook_retry_schedule == (0.1, 0.2)
    assert settings.confirmation_token_lifetime_s == 5


def test_non_loopback_address_is_refused_unless_allowed() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--host", "0.0.0.0"])
    assert parse_args(["--host", "0.0.0.0", "--allow-non-loopback"]).host == "0.0.0.0"
    assert parse_args(["--host", "::1"]).host == "::1"


@pytest.mark.parametrize("spec", ["http://x", "http://x=secret", "ftp://x=whsec_1"])
def test_malformed_webhook_specs_are_refused(spec: str) -> None:
    with pytest.raises(SettingsError):
        parse_webhook(spec)


def test_live_keys_are_refused() -> None:
    with pytest.raises(SettingsError):
        SandboxSettings(secret_key="sk_live_nope").validate()


def test_a_negative_confirmation_token_lifetime_is_refused() -> None:
    with pytest.raises(SettingsError):
        SandboxSettings(confirmation_token_lifetime_s=-1).validate()
    with pytest.raises(SystemExit):
        parse_args(["--confirmation-token-lifetime", "-1"])
