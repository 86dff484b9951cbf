"""`python -m bookshop`, what `make run` starts: a start it cannot make is one line, not a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fixtures.sandbox import free_port

ROOT = Path(__file__).parents[1]


class _Healthy(BaseHTTPRequestHandler):
    """Answers every GET with 200, as another shop's sandbox answers its health check."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_sandbox() -> Iterator[int]:
    """A healthy server on a loopback port, like a sandbox another `make run` started."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_sandbox_port_in_use_stops_the_start_with_one_line_saying_so(
    other_sandbox: int, tmp_path: Path
) -> None:
    # Without the check the shop would start against the other shop's sandbox (and its webhooks).
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith(("STRIPE_", "SHOP_"))
    }
    environ |= {
        "PYTHONPATH": str(ROOT),
        "SANDBOX_PORT": str(other_sandbox),
        "SHOP_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{tmp_path}/shop.sqlite3",
    }
    started = subprocess.run(
        [sys.executable, "-m", "bookshop"],
        cwd=tmp_path,  # no .env here
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert f"port {other_sandbox} for the Stripe sandbox is taken" in started.stderr
    assert "Traceback" not in started.stderr
    assert "Bookshop at" not in started.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"SHOP_ENV": "production", "SHOP_SECRET_KEY": "x" * 40},
        {
            "SHOP_ENV": "production",
            "SHOP_SECRET_KEY": "x" * 40,
            "STRIPE_SECRET_KEY": "sk_test_abc",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_abc",
        },
    ],
    ids=["no Stripe keys", "no public URL"],
)
def test_production_refuses_to_start_in_one_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bookshop import __main__ as entry

    monkeypatch.chdir(tmp_path)  # no .env of the developer's is read
    for name in [name for name in os.environ if name.startswith(("SHOP_", "STRIPE_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    message = str(stopped.value.code)
    assert message.startswith("bookshop: ") and "\n" not in message
    assert ("Stripe keys" if "STRIPE_SECRET_KEY" not in env else "SHOP_PUBLIC_URL") in message


def test_a_country_in_two_shipping_zones_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bookshop import __main__ as entry
    from bookshop import shipping

    rates = tmp_path / "shipping.toml"
    zone = 'first_book = 1\neach_further_book = 1\nfree_from = 9\ndelivery = "soon"\n'
    rates.write_text(
        f'[[zones]]\nname = "Home"\ncountries = ["SG"]\n{zone}'
        f'[[zones]]\nname = "Away"\ncountries = ["MY", "SG"]\n{zone}'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shipping, "RATES_FILE", rates)
    shipping.default_rates.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            entry.main()
    finally:
        shipping.default_rates.cache_clear()
    assert stopped.value.code == (
        "bookshop: shipping: SG is in two zones, 'Home' and 'Away': "
        "a country may be in one shipping zone only."
    )


def test_a_broken_catalog_seed_stops_the_start_naming_its_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bookshop import __main__ as entry

    seed = tmp_path / "books.toml"
    seed.write_text('[[books]]\nid = "Not A Slug"\ntitle = "T"\nauthor = "A"\nprice = 100\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOP_CATALOG_SEED", str(seed))
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    message = str(stopped.value.code)
    assert message.startswith("bookshop: SHOP_CATALOG_SEED books.toml: line 1: ")
    assert "'Not A Slug'" in message and "\n" not in message
