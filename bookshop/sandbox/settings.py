"""Settings for the sandbox: defaults, environment variables and validation."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_SECRET_KEY = "sk_test_sandbox_0000000000000000"  # noqa: S105 - a public test key
DEFAULT_PUBLISHABLE_KEY = "pk_test_sandbox_0000000000000000"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12111
FAIL_MODES = ("error", "drop")
# Stripe's: a ConfirmationToken can confirm a payment for 12 hours after it is made.
DEFAULT_CONFIRMATION_TOKEN_LIFETIME_S = 12 * 60 * 60
# Roughly doubling waits that give up after about five minutes, like a much shorter Stripe.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 60, 60, 60, 60)


class SettingsError(ValueError):
    """Raised for settings that cannot work together; the message says what to fix."""


@dataclass(frozen=True)
class WebhookEndpoint:
    """A URL that receives every event, signed with its `whsec_` secret."""

    url: str
    secret: str


@dataclass
class SandboxSettings:
    """Everything the sandbox can be told at start."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    secret_key: str = DEFAULT_SECRET_KEY
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY
    latency_ms: int = 0
    fail_rate: float = 0.0
    fail_mode: str = "error"
    webhooks: list[WebhookEndpoint] = field(default_factory=list)
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_timeout_s: float = 5.0
    confirmation_token_lifetime_s: int = DEFAULT_CONFIRMATION_TOKEN_LIFETIME_S
    allow_non_loopback: bool = False
    # Where the SMTP server that catches the shop's mail listens, on `host`; None: no SMTP at all.
    smtp_port: int | None = None

    def validate(self) -> None:
        """Refuse settings that are inconsistent or unsafe."""
        if not self.secret_key.startswith("sk_test_"):
            raise SettingsError("the secret key must be a test key (sk_test_...)")
        if not self.publishable_key.startswith("pk_test_"):
            raise SettingsError("the publishable key must be a test key (pk_test_...)")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range")
        if self.smtp_port is not None:
            if not 0 <= self.smtp_port <= 65535:
                raise SettingsError(f"SMTP port {self.smtp_port} is out of range")
            if self.smtp_port == self.port != 0:
                raise SettingsError("the SMTP port must differ from the HTTP port")
        if self.latency_ms < 0:
            raise SettingsError("latency_ms must not be negative")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise SettingsError("fail_rate must be between 0 and 1")
        if self.confirmation_token_lifetime_s < 0:
            raise SettingsError("confirmation_token_lifetime_s must not be negative")
        if self.fail_mode not in FAIL_MODES:
            raise SettingsError(f"fail_mode must be one of {', '.join(FAIL_MODES)}")
        if not self.allow_non_loopback and not is_loopback(self.host):
            raise SettingsError(
                f"refusing to listen on non-loopback address {self.host!r}: the sandbox has no "
                "real security; pass --allow-non-loopback if you really mean it"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxSettings:
        """Read SANDBOX_* environment variables over the defaults."""
        env = os.environ if environ is None else environ
        settings = cls()
        settings.host = env.get("SANDBOX_HOST", settings.host)
        settings.port = _int(env.get("SANDBOX_PORT"), settings.port, "SANDBOX_PORT")
        settings.secret_key = env.get("SANDBOX_SECRET_KEY", settings.secret_key)
        settings.publishable_key = env.get("SANDBOX_PUBLISHABLE_KEY", settings.publishable_key)
        settings.latency_ms = _int(env.get("SANDBOX_LATENCY_MS"), 0, "SANDBOX_LATENCY_MS")
        settings.confirmation_token_lifetime_s = _int(
            env.get("SANDBOX_CONFIRMATION_TOKEN_LIFETIME_S"),
            settings.confirmation_token_lifetime_s,
            "SANDBOX_CONFIRMATION_TOKEN_LIFETIME_S",
        )
        if env.get("SANDBOX_WEBHOOKS"):
            settings.webhooks = [
                parse_webhook(item) for item in env["SANDBOX_WEBHOOKS"].split(",") if item.strip()
            ]
        return settings


def parse_webhook(spec: str) -> WebhookEndpoint:
    """Parse `URL=whsec_...` (the secret is after the last `=`, since URLs may contain one)."""
    url, sep, secret = spec.strip().rpartition("=")
    if not sep or not url or not secret.startswith("whsec_"):
        raise SettingsError(f"webhook {spec!r} must look like URL=whsec_...")
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"webhook URL {url!r} must be http:// or https://")
    return WebhookEndpoint(url=url, secret=secret)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _int(value: str | None, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {value!r}") from None
