"""The shop and its Stripe sandbox, started the way `make run` starts them, on free loopback ports.

Shared by the end-to-end suite's session fixture and `make screenshots`, so both see the same shop a
person would get from `make run`: one `python -m bookshop` process that starts the sandbox itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bookshop.config import SANDBOX_WEBHOOK_SECRET
from bookshop.orders import Ledger, Order
from tests.fixtures.app import TEST_CATALOG
from tests.fixtures.database import run_async
from tests.fixtures.sandbox import SandboxServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# A developer's `.env` could point this shop at real Stripe keys or another currency. python-dotenv
# never overrides a variable that is already set, so each of these is set here: empty means "unset".
PINNED_SETTINGS = {
    "STRIPE_SECRET_KEY": "",
    "STRIPE_PUBLISHABLE_KEY": "",
    "STRIPE_WEBHOOK_SECRET": "",
    "STRIPE_API_BASE": "",
    "STRIPE_JS_URL": "",
    "SHOP_SECRET_KEY": "",
    "SHOP_ENV": "development",
    "SHOP_CURRENCY": "sgd",
    "SHOP_LOCALE": "en_SG",
    "SHOP_HOST": "127.0.0.1",
    "SHOP_WORKERS": "1",
    "SHOP_RATE_LIMITS": "off",
}


class ShopDidNotStart(RuntimeError):
    """The shop or its sandbox did not answer in time; the message carries the log's tail."""


@dataclass
class RunningShop:
    """A running shop, its sandbox, and where their output goes."""

    url: str
    sandbox: SandboxServer
    log_path: Path
    pid: int
    database_url: str

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the shop's and sandbox's combined output, for failure messages."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def order(self, intent_id: str) -> Order | None:
        """The shop's ledger entry for a PaymentIntent, read from its database."""

        async def read() -> Order | None:
            ledger = Ledger(self.database_url)
            await ledger.open()
            try:
                return await ledger.get(intent_id)
            finally:
                await ledger.close()

        return run_async(read())


def shop_environment(
    shop_port: int,
    sandbox_port: int,
    database_url: str,
    workers: int = 1,
    sandbox: SandboxServer | None = None,
    smtp_port: int | None = None,
) -> dict[str, str]:
    """The environment `python -m bookshop` gets: sandbox mode, orders in `database_url`. With
    `sandbox`, the shop talks to that running sandbox (its keys and URL) and starts none."""
    env = {**os.environ, **PINNED_SETTINGS}
    env.update(
        SHOP_WORKERS=str(workers),
        SHOP_PORT=str(shop_port),
        SANDBOX_PORT=str(sandbox_port),
        # The mail catcher of the sandbox the shop starts (or uses): a free port, as its HTTP one.
        SANDBOX_SMTP_PORT=str(smtp_port or (sandbox.smtp_port if sandbox else None) or free_port()),
        DATABASE_URL=database_url,
        SHOP_CATALOG_SEED=str(TEST_CATALOG),
        PYTHONUNBUFFERED="1",
    )
    if sandbox is not None:
        # Keys and a base URL given: the shop starts a sandbox only when that URL is on
        # SANDBOX_PORT, which is another (free) port here.
        env.update(
            STRIPE_SECRET_KEY=sandbox.secret_key,
            STRIPE_PUBLISHABLE_KEY=sandbox.publishable_key,
            STRIPE_WEBHOOK_SECRET=SANDBOX_WEBHOOK_SECRET,
            STRIPE_API_BASE=sandbox.url,
        )
    return env


@contextmanager
def running_shop(
    workdir: Path,
    workers: int = 1,
    database_url: str | None = None,
    sandbox: SandboxServer | None = None,
) -> Iterator[RunningShop]:
    """Start `python -m bookshop` (which starts the sandbox), wait until both answer, stop both.

    Orders go to `database_url`, by default a SQLite file in `workdir` (never into the checkout).
    Given a running `sandbox` (another shop's), the shop uses it and starts none of its own: two
    shop processes on one database and one Stripe. Its log is then `shop-<port>.log`.
    """
    shop_port, sandbox_port = free_port(), free_port()
    smtp_port = sandbox.smtp_port if sandbox and sandbox.smtp_port else free_port()
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'shop.sqlite3'}"
    log_path = workdir / ("shop.log" if sandbox is None else f"shop-{shop_port}.log")
    with log_path.open("wb") as log:
        # Templates and static files are found relative to the package, so it runs from the
        # repository root; its own session lets a last-resort kill reach the sandbox child too.
        process = subprocess.Popen(
            [sys.executable, "-m", "bookshop"],
            cwd=REPO_ROOT,
            env=shop_environment(
                shop_port, sandbox_port, database_url, workers, sandbox, smtp_port
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        shop = RunningShop(
            url=f"http://127.0.0.1:{shop_port}",
            sandbox=SandboxServer(
                url=sandbox.url if sandbox else f"http://127.0.0.1:{sandbox_port}",
                smtp_port=smtp_port,
            ),
            log_path=log_path,
            pid=process.pid,
            database_url=database_url,
        )
        try:
            _wait_until_up(shop, process)
            yield shop
        finally:
            shop.sandbox._http.close()
            _stop(process)


def _wait_until_up(shop: RunningShop, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    pending = [f"{shop.sandbox.url}/_sandbox/health", f"{shop.url}/healthz"]
    with httpx.Client(timeout=2) as http:
        while pending and time.monotonic() < deadline:
            if process.poll() is not None:
                raise ShopDidNotStart(
                    f"`python -m bookshop` exited with {process.returncode}:\n{shop.log_tail()}"
                )
            try:
                if http.get(pending[0]).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    if pending:
        raise ShopDidNotStart(
            f"no answer from {pending[0]} in {STARTUP_TIMEOUT_S:.0f} s:\n{shop.log_tail()}"
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the shop to stop (it stops its sandbox on the way out); kill its process group if not."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    # The group is this shop's own session: the shop and the sandbox it started, nothing else.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_S)
