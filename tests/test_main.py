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
