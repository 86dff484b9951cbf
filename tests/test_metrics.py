"""Prometheus metrics: requests by route and status, Stripe calls, webhook lag and paid orders,
served on SHOP_METRICS_BIND (summed over every worker) and never on the shop's own port."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from bookshop import create_app, metrics
from bookshop.config import Settings
from bookshop.health import HealthCheck
from bookshop.orders.transitions import Transitions
from bookshop.payments import PaymentsUnavailable
from tests.checkout.steps import pushed_intent
from tests.fixtures.app import Client, confirm_like_stripe_js, deliver_to_singapore
from tests.fixtures.paying import DECLINED, THREE_D_SECURE, VISA, press_pay
from tests.fixtures.sandbox import SandboxServer, free_port

ROOT = Path(__file__).parents[1]
START_TIMEOUT_S = 60.0
WAIT_S = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with metrics on (the address itself is only served by `python -m`)."""
    return replace(settings, metrics_bind=("127.0.0.1", free_port()))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The shop with metrics on, started and stopped around the test."""
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


@pytest.fixture
async def client(app: Quart) -> Client:
    """A shopper whose session delivers to Singapore."""
    return await deliver_to_singapore(app.test_client())


def value(name: str, **labels: str) -> float:
    """This process's value of a sample (0 before it was first counted)."""
    return metrics.made().registry.get_sample_value(name, labels) or 0.0


class Counts:
    """Samples read before and after what a test does: tests share the process's metrics."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.samples = samples
        self.before = [value(name, **labels) for name, labels in samples]

    def added(self) -> list[float]:
        return [
            value(name, **labels) - before
            for (name, labels), before in zip(self.samples, self.before, strict=True)
        ]


def requests(endpoint: str, status: str) -> tuple[str, dict[str, str]]:
    return "bookshop_http_requests_total", {"endpoint": endpoint, "status": status}


def stripe_calls(kind: str) -> tuple[str, dict[str, str]]:
    return "bookshop_stripe_call_duration_seconds_count", {"kind": kind}


def stripe_errors(kind: str, error: str) -> tuple[str, dict[str, str]]:
    return "bookshop_stripe_errors_total", {"kind": kind, "error": error}


PAID = ("bookshop_orders_paid_total", {})


def middleware(app: Quart) -> list[type]:
    """The ASGI middleware around the app, outermost first."""
    found = []
    layer: Any = app.asgi_app
    while hasattr(layer, "app"):
        found.append(type(layer))
        layer = layer.app
    return found


async def test_requests_are_counted_by_route_and_status_never_by_path(
    app: Quart, client: Client
) -> None:
    # Inside the health check: a load balancer's polls are not the shop's traffic.
    layers = middleware(app)
    assert layers.index(HealthCheck) < layers.index(metrics.RequestMetrics)
    counts = Counts(
        requests("shop.index", "200"),
        requests("shop.book", "404"),
        requests("unrouted", "404"),
        ("bookshop_http_request_duration_seconds_count", {"endpoint": "shop.index"}),
    )

    for _ in range(3):
        assert (await client.get("/")).status_code == 200
    # A route that answers 404 keeps its name; a path no route matches is "unrouted".
    assert (await client.get("/books/no-such-book")).status_code == 404
    for path in ("/no-such-page", "/wp-login.php", "/metrics"):
        assert (await client.get(path)).status_code == 404

    assert counts.added() == [3, 1, 3, 3]
    paths = [
        sample.labels
        for family in metrics.made().registry.collect()
        for sample in family.samples
        if "no-such" in str(sample.labels) or "wp-login" in str(sample.labels)
    ]
    assert paths == []


async def test_without_a_metrics_address_nothing_is_measured(
    settings: Settings, sandbox: SandboxServer
) -> None:
    app = create_app(replace(settings, metrics_bind=None))
    assert metrics.RequestMetrics not in middleware(app)
    assert app.url_value_preprocessors[None] == []
    async with app.test_app() as test_app:
        client = await deliver_to_singapore(test_app.test_client())
        counts = Counts(requests("shop.index", "200"), stripe_calls("payment_intents.create"))
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404
        await press_pay(client, sandbox, "/checkout/code", VISA)
        assert counts.added() == [0, 0]


async def test_stripe_calls_are_timed_by_kind(client: Client, sandbox: SandboxServer) -> None:
    counts = Counts(
        stripe_calls("confirmation_tokens.retrieve"),
        stripe_calls("payment_intents.create"),
        stripe_errors("payment_intents.create", "CardError"),
    )

    response = await press_pay(client, sandbox, "/checkout/code", VISA)

    assert response.status_code == 200
    assert counts.added() == [1, 1, 0]


async def test_stripe_errors_are_counted_by_kind_and_class(
    app: Quart, client: Client, sandbox: SandboxServer
) -> None:
    counts = Counts(
        stripe_calls("payment_intents.create"),
        stripe_errors("payment_intents.create", "CardError"),
        stripe_errors("payment_intents.confirm", "CardError"),
    )

    # A decline, then the retry on the same intent declined again: two calls, two kinds.
    await press_pay(client, sandbox, "/checkout/code", DECLINED)
    await press_pay(client, sandbox, "/checkout/code", DECLINED)

    assert counts.added() == [1, 1, 1]

    # Stripe failing: the shop's "unavailable", counted as the error Stripe's answer was.
    down = Counts(
        stripe_calls("payment_intents.retrieve"),
        stripe_errors("payment_intents.retrieve", "APIError"),
    )
    sandbox.set_faults(fail_rate=1.0)
    with pytest.raises(PaymentsUnavailable):
        await app.extensions["payments"].intent("pi_123")
    assert down.added() == [1, 1]


def sign(payload: bytes, secret: str) -> dict[str, str]:
    """Headers as Stripe signs a delivery."""
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}", "Content-Type": "application/json"}


async def deliver(client: Client, settings: Settings, event: dict[str, Any]) -> Any:
    """POST the event to the shop's webhook endpoint, signed as Stripe would."""
    body = json.dumps(event).encode()
    return await client.post(
        "/webhooks/stripe", data=body, headers=sign(body, settings.stripe_webhook_secret)
    )


def succeeded_event(sandbox: SandboxServer, intent_id: str) -> dict[str, Any]:
    """The sandbox's payment_intent.succeeded event for this intent."""
    for event in sandbox.events("payment_intent.succeeded"):
        if event["data"]["object"]["id"] == intent_id:
            return event
    raise AssertionError(f"no succeeded event for {intent_id}")


async def paid_at_stripe_unheard(client: Client, sandbox: SandboxServer) -> str:
    """A payment the ledger has as open (3D Secure left waiting), then paid at Stripe as the
    browser would finish it: only its webhook tells the ledger. Its intent id."""
    response = await press_pay(client, sandbox, "/checkout/code", THREE_D_SECURE)
    body = await response.get_data(as_text=True)
    secret = body.split('data-client-secret="')[1].split('"')[0]
    confirm_like_stripe_js(sandbox, secret, "4242424242424242", "ada@example.com")
    return secret.split("_secret_")[0]


async def test_webhook_lag_is_observed_from_the_events_creation(
    client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id = await paid_at_stripe_unheard(client, sandbox)
    event = succeeded_event(sandbox, intent_id)
    lag = Counts(("bookshop_webhook_lag_seconds_count", {}))
    total = value("bookshop_webhook_lag_seconds_sum")
    event["created"] = int(time.time()) - 120  # Stripe's first attempt failed; this is a retry

    assert (await deliver(client, settings, event)).status_code == 200

    assert lag.added() == [1]
    assert 120 <= value("bookshop_webhook_lag_seconds_sum") - total < 180
    # A delivery that fails its signature says nothing about Stripe: not observed.
    await client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=0"})
    assert lag.added() == [1]


async def test_an_order_paid_is_counted_once_whatever_the_duplicate_webhooks(
    app: Quart, client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    intent_id = await paid_at_stripe_unheard(client, sandbox)
    event = succeeded_event(sandbox, intent_id)
    paid = Counts(PAID)

    for _ in range(3):
        assert (await deliver(client, settings, event)).status_code == 200
    # The same payment told again by another event id (as a re-send from the dashboard is).
    assert (await deliver(client, settings, {**event, "id": event["id"] + "x"})).status_code == 200

    assert paid.added() == [1]
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None and order.status == "paid"


async def test_a_payment_the_pay_step_saw_is_counted_there_and_not_again_by_its_webhook(
    client: Client, settings: Settings, sandbox: SandboxServer
) -> None:
    paid = Counts(PAID)

    receipt = await press_pay(client, sandbox, "/checkout/code", VISA)
    intent_id = pushed_intent(receipt)
    assert paid.added() == [1]
    await deliver(client, settings, succeeded_event(sandbox, intent_id))

    assert paid.added() == [1]


async def test_a_paid_order_whose_transaction_rolls_back_is_not_counted(
    app: Quart,
    client: Client,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intent_id = await paid_at_stripe_unheard(client, sandbox)
    event = succeeded_event(sandbox, intent_id)
    paid = Counts(PAID)

    async def broken(*args: Any) -> None:
        raise RuntimeError("the database went away mid-write")

    # Fails after the order's row is updated to paid, in the same transaction.
    with monkeypatch.context() as patched:
        patched.setattr(Transitions, "_sell", broken)
        assert (await deliver(client, settings, event)).status_code == 500
    assert paid.added() == [0]
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None and order.status == "open"

    assert (await deliver(client, settings, event)).status_code == 200  # Stripe's retry
    assert paid.added() == [1]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A metrics page's samples by name and labels."""
    text = httpx.get(url, timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_metrics_endpoint_answers_on_its_own_address_only(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(metrics.DIRECTORY, raising=False)
    port = free_port()
    with metrics.served(("127.0.0.1", port)):
        directory = os.environ[metrics.DIRECTORY]
        assert os.listdir(directory) == []  # fresh: nothing of an earlier run is summed
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert (await client.get("/metrics")).status_code == 404
    assert not os.path.exists(directory)
    assert metrics.DIRECTORY not in os.environ
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


@pytest.fixture
def shop_environ(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """`python -m bookshop`'s environment: the session's sandbox, a database and a TMPDIR of
    this test's own, no .env, and no settings from the caller's environment."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "SHOP_", "PROMETHEUS_"))
        and key not in ("DATABASE_URL", "REDIS_URL")
    }
    (tmp_path / "tmp").mkdir()
    return environ | {
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp_path / "tmp"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/shop.sqlite3",
        "STRIPE_SECRET_KEY": sandbox.secret_key,
        "STRIPE_PUBLISHABLE_KEY": sandbox.publishable_key,
        "STRIPE_API_BASE": sandbox.url,
        "SHOP_PORT": str(free_port()),
        "SHOP_RATE_LIMITS": "off",
    }


Start = Callable[[], "subprocess.Popen[bytes]"]


def shop_log(tmp_path: Path) -> str:
    """What the shop started by `shop_process` has logged so far (its own lines and
    Hypercorn's access lines, each worker's naming its process id)."""
    return (tmp_path / "shop.log").read_text()


@pytest.fixture
def shop_process(shop_environ: dict[str, str], tmp_path: Path) -> Iterator[Start]:
    """Starts `python -m bookshop` with `shop_environ`, logging to `shop_log`; whatever it
    started is stopped (SIGTERM, as a service manager would) when the test ends."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "shop.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bookshop"],
                cwd=tmp_path,
                env=shop_environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for(
    url: str, process: subprocess.Popen[bytes], log_dir: Path, timeout: float = START_TIMEOUT_S
) -> None:
    """Until `url` answers 200; fail with the server's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.terminate()
    process.wait(timeout=20)
    log = shop_log(log_dir)
    pytest.fail(f"{url} did not answer in {timeout:.0f} s; the shop's log:\n{log[-3000:]}")


def test_python_m_bookshop_serves_the_sum_of_every_worker_on_the_metrics_address(
    shop_environ: dict[str, str], shop_process: Start, tmp_path: Path
) -> None:
    metrics_port = free_port()
    shop_environ |= {"SHOP_WORKERS": "2", "SHOP_METRICS_BIND": f"127.0.0.1:{metrics_port}"}
    shop = f"http://127.0.0.1:{shop_environ['SHOP_PORT']}"
    scraped = f"http://127.0.0.1:{metrics_port}/metrics"
    process = shop_process()
    wait_for(f"{shop}/healthz", process, tmp_path)
    wait_for(scraped, process, tmp_path)

    # Each worker listens on a socket of its own and the kernel spreads connections over
    # those listening, but the first worker answers /healthz before the second listens: send
    # pages, each on a connection of its own, until the access lines show both have answered.
    sent = 0
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        while len(index_answered_by(shop_log(tmp_path))) < 2 and time.monotonic() < deadline:
            for _ in range(10):
                assert http.get(f"{shop}/").status_code == 200
            sent += 10
            time.sleep(0.05)  # a worker writes a request's access line after answering it
        for _ in range(5):
            assert http.get(f"{shop}/no-such-page").status_code == 404
        assert http.get(f"{shop}/metrics").status_code == 404
    assert len(index_answered_by(shop_log(tmp_path))) == 2

    index = ("bookshop_http_requests_total", (("endpoint", "shop.index"), ("status", "200")))
    unrouted = ("bookshop_http_requests_total", (("endpoint", "unrouted"), ("status", "404")))
    deadline = time.monotonic() + WAIT_S
    while True:
        # A worker counts a request once its response is sent: the last may lag a moment.
        samples = scrape(scraped)
        if (samples.get(index), samples.get(unrouted)) == (sent, 6) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Both workers answered, so these are sums.
    assert (samples.get(index), samples.get(unrouted)) == (sent, 6)
    # The health checks above were answered in front of the app, and not counted.
    assert ("bookshop_http_requests_total", (("endpoint", "unrouted"), ("status", "200"))) not in (
        samples
    )
    assert len(metrics_directories(tmp_path / "tmp")) == 1

    process.terminate()
    assert process.wait(timeout=20) == 0
    assert metrics_directories(tmp_path / "tmp") == []  # removed at exit


def index_answered_by(log: str) -> set[str]:
    """The worker process ids that Hypercorn's access lines show answering `GET /`."""
    return set(re.findall(r"\[(\d+)\] \[INFO\] .* \"GET / 1\.1\" 200", log))


def metrics_directories(tmp: Path) -> list[str]:
    """The workers' metrics directories under a TMPDIR."""
    return [name for name in os.listdir(tmp) if name.startswith("bookshop-metrics-")]


def test_a_metrics_address_in_use_stops_the_start_with_one_line_saying_so(
    shop_environ: dict[str, str], shop_process: Start, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        shop_environ["SHOP_METRICS_BIND"] = f"127.0.0.1:{port}"
        process = shop_process()
        process.wait(timeout=START_TIMEOUT_S)
        log = shop_log(tmp_path)

    assert process.returncode == 1
    assert f"bookshop: cannot serve metrics on 127.0.0.1:{port}" in log
    assert "Traceback" not in log
    assert "Bookshop at" not in log
