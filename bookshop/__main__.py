"""`python -m bookshop`: serve the shop, as `make run` does.

With no Stripe keys configured it first starts the local Stripe sandbox as a process of its own.
With SHOP_METRICS_BIND set it serves the workers' Prometheus metrics there, from this process.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from dotenv import load_dotenv
from hypercorn.run import run

from bookshop import metrics
from bookshop.catalog.transfer import read_catalog
from bookshop.config import ConfigError, Settings, load_settings
from bookshop.server import LOG_FORMAT, ServerConfig, hypercorn_config
from bookshop.shipping import default_rates

log = logging.getLogger("bookshop")


@contextmanager
def sandbox_process(settings: Settings) -> Iterator[None]:
    """Run `python -m bookshop.sandbox` beside the shop, delivering webhooks to it."""
    webhook_url = f"http://{settings.host}:{settings.port}/webhooks/stripe"
    command = [
        sys.executable,
        "-m",
        "bookshop.sandbox",
        "--port",
        str(settings.sandbox_port),
        "--secret-key",
        settings.stripe_secret_key,
        "--publishable-key",
        settings.stripe_publishable_key,
        "--webhook",
        f"{webhook_url}={settings.stripe_webhook_secret}",
        # It catches the shop's mail too (no SMTP_URL outside production).
        "--smtp-port",
        str(settings.sandbox_smtp_port),
    ]
    # Checked first: the health check below would take another shop's sandbox for this one.
    for port, name, what in (
        (settings.sandbox_port, "SANDBOX_PORT", "the Stripe sandbox"),
        (settings.sandbox_smtp_port, "SANDBOX_SMTP_PORT", "the sandbox's mail catcher"),
    ):
        if port_taken(port):
            raise SystemExit(
                f"bookshop: port {port} for {what} is taken (another `make run`?); "
                f"stop it, or set {name} to a free port"
            )
    process = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module
    try:
        wait_until_healthy(f"{settings.stripe_api_base}/_sandbox/health", process)
        log.info("Stripe sandbox running at %s", settings.stripe_api_base)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def port_taken(port: int) -> bool:
    """True when something already listens on this loopback port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Poll the sandbox until it answers, or fail with a readable message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("bookshop: the Stripe sandbox exited at start (is its port taken?)")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bookshop: the Stripe sandbox did not answer at {url} in {timeout:.0f} s")


def main() -> int:
    """Check the settings, then serve."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    load_dotenv()
    try:
        settings = load_settings(os.environ)
        check_files(settings)
    except ConfigError as error:
        # One line that says what to fix, not a traceback.
        sys.exit(f"bookshop: {error}")
    config = hypercorn_config(settings)
    with metrics_endpoint(settings.metrics_bind):
        if settings.sandbox and settings.stripe_api_base == sandbox_base(settings):
            with sandbox_process(settings):
                log.info(
                    "Bookshop at http://%s:%s (test sandbox mode)", settings.host, settings.port
                )
                return serve(config)
        log.info("Bookshop at http://%s:%s", settings.host, settings.port)
        return serve(config)


def check_files(settings: Settings) -> None:
    """The files the shop reads, checked before any worker starts: a mistake is one line here,
    not a traceback in each worker or a 500 at a shopper's address step."""
    default_rates()
    problems = read_catalog(settings.catalog_seed).problems
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"SHOP_CATALOG_SEED {settings.catalog_seed.name}: {problems[0]}{more}.")


def sandbox_base(settings: Settings) -> str:
    """Where the sandbox this command starts answers."""
    return f"http://127.0.0.1:{settings.sandbox_port}"


@contextmanager
def metrics_endpoint(bind: tuple[str, int] | None) -> Iterator[None]:
    """The metrics endpoint on `bind` while the shop runs (None: no metrics). Started before
    Hypercorn spawns the workers, which inherit from this process where to write their metrics."""
    with ExitStack() as stack:
        if bind is not None:
            try:
                stack.enter_context(metrics.served(bind))
            except OSError as error:
                sys.exit(
                    f"bookshop: cannot serve metrics on {bind[0]}:{bind[1]}: "
                    f"{error.strerror or error}"
                )
        yield


def serve(config: ServerConfig) -> int:
    """Run Hypercorn; an address that can't be bound is one line, not a traceback."""
    try:
        return run(config)
    except OSError as error:
        sys.exit(f"bookshop: cannot listen on {', '.join(config.bind)}: {error.strerror or error}")


if __name__ == "__main__":
    sys.exit(main())
