"""Prometheus metrics: what each shop worker counts, and the endpoint that sums every worker's.

Hypercorn's workers are processes, so each one writes its numbers to files of its own in one
directory (prometheus_client's multi-process mode, `PROMETHEUS_MULTIPROC_DIR`), and the supervisor
that `python -m bookshop` runs serves their sum on SHOP_METRICS_BIND, never on the shop's port.
With SHOP_METRICS_BIND unset nothing is measured: no middleware, and every hook returns at once.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import start_http_server
from quart import request

from bookshop.health import ASGIApp

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
    from quart import Quart

    from bookshop.config import Settings

log = logging.getLogger(__name__)

DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# Where the app tells the middleware which route answered (the scope is the request's own).
ENDPOINT = "bookshop.endpoint"
# A request no route matched (404, 405, a slash redirect): one label, never the raw path.
UNROUTED = "unrouted"
# Stripe answers in a few hundred milliseconds; the shop gives up after STRIPE_TIMEOUT_SECONDS.
STRIPE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Stripe delivers within seconds, and retries a failed delivery for up to three days.
LAG_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0, 259200.0)


class ShopMetrics:
    """The shop's metrics, made once per process (each value is a file once the process runs in
    multi-process mode), in a registry of their own: this process's numbers, as tests read them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bookshop_http_requests",
            "HTTP requests answered, by route (Quart endpoint, or 'unrouted') and status.",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "bookshop_http_request_duration_seconds",
            "Time from a request's arrival in the app to the end of its response, by route.",
            ("endpoint",),
            registry=self.registry,
        )
        self.stripe_seconds = Histogram(
            "bookshop_stripe_call_duration_seconds",
            "Stripe API calls by kind (e.g. payment_intents.create), time in the shop's pool "
            "included.",
            ("kind",),
            buckets=STRIPE_BUCKETS,
            registry=self.registry,
        )
        self.stripe_errors = Counter(
            "bookshop_stripe_errors",
            "Stripe API calls that raised, by kind and stripe-python's error class.",
            ("kind", "error"),
            registry=self.registry,
        )
        self.webhook_lag = Histogram(
            "bookshop_webhook_lag_seconds",
            "Seconds from a Stripe event's creation to the shop's receipt of it (each verified "
            "delivery).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.orders_paid = Counter(
            "bookshop_orders_paid",
            "Orders the ledger marked paid (once an order, when its transaction committed).",
            registry=self.registry,
        )
        # Every worker's sender counts the same shared outbox: the sum would multiply it, so the
        # endpoint shows the newest count of a live worker.
        self.outbox = Gauge(
            "bookshop_mail_outbox_messages",
            "Messages in the mail outbox not sent yet, as the last sender round counted them: "
            "pending (to be tried) or failed (given up; see `quart --app bookshop mail list`).",
            ("state",),
            multiprocess_mode="livemostrecent",
            registry=self.registry,
        )


_made: ShopMetrics | None = None
# The metrics being recorded, None when off: set by the last `install` (one app a process).
_active: ShopMetrics | None = None


def made() -> ShopMetrics:
    """This process's metrics, made on first use (metric families can't be made twice)."""
    global _made
    if _made is None:
        _made = ShopMetrics()
    return _made


def install(app: Quart, settings: Settings) -> None:
    """Measure the app's requests, Stripe calls, webhooks and paid orders when SHOP_METRICS_BIND
    is set; otherwise install nothing, and the other hooks cost a global read."""
    global _active
    if settings.metrics_bind is None:
        _active = None
        return
    _active = made()
    app.url_value_preprocessor(_note_endpoint)
    app.asgi_app = RequestMetrics(app.asgi_app, _active)  # type: ignore[method-assign]

    @app.after_serving
    async def forget_this_worker() -> None:
        # Live gauges of a dead worker would be summed for ever; counters rightly stay.
        directory = os.environ.get(DIRECTORY)
        if directory:
            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def _note_endpoint(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Quart calls this once routing is done, before any before_request hook can answer instead.
    if endpoint is not None:
        request.scope[ENDPOINT] = endpoint  # type: ignore[literal-required]


class RequestMetrics:
    """ASGI middleware: each HTTP request counted by route and status, and timed by route."""

    def __init__(self, app: ASGIApp, metrics: ShopMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Children by label values, so a request skips prometheus_client's label lookup.
        self._counted: dict[tuple[str, int], Any] = {}
        self._timed: dict[str, Any] = {}

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # What Hypercorn answers when the app ends without a response.
        status = 500

        async def noting_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            endpoint = cast(str, scope.get(ENDPOINT, UNROUTED))
            self._count(endpoint, status, time.perf_counter() - started)

    def _count(self, endpoint: str, status: int, seconds: float) -> None:
        counted = self._counted.get((endpoint, status))
        if counted is None:
            counted = self._counted[endpoint, status] = self.metrics.requests.labels(
                endpoint, str(status)
            )
        timed = self._timed.get(endpoint)
        if timed is None:
            timed = self._timed[endpoint] = self.metrics.request_seconds.labels(endpoint)
        counted.inc()
        timed.observe(seconds)


class _StripeCall:
    """Times one Stripe call; an exception out of it is counted by its class."""

    def __init__(self, metrics: ShopMetrics, kind: str) -> None:
        self.metrics = metrics
        self.kind = kind
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None and not issubclass(kind, Exception):
            return  # cancelled: no answer to time
        self.metrics.stripe_seconds.labels(self.kind).observe(time.perf_counter() - self.started)
        if kind is not None:
            self.metrics.stripe_errors.labels(self.kind, kind.__name__).inc()


_NOT_TIMED = nullcontext()


def stripe_call(kind: str) -> AbstractContextManager[None]:
    """Time the Stripe call made in the block (`kind`: Stripe's name for it, with no id in it)."""
    if _active is None:
        return _NOT_TIMED
    return _StripeCall(_active, kind)


def webhook_received(created: int) -> None:
    """A verified Stripe event arrived: how long after Stripe created it (Unix time)."""
    if _active is not None:
        # Clocks differ a little: an event is never received before it was created.
        _active.webhook_lag.observe(max(0.0, time.time() - created))


def orders_paid(count: int) -> None:
    """`count` orders became paid in a transaction that has committed."""
    if _active is not None and count:
        _active.orders_paid.inc(count)


def outbox_backlog(pending: int, failed: int) -> None:
    """The mail outbox holds `pending` messages still to be tried and `failed` ones given up."""
    if _active is not None:
        _active.outbox.labels("pending").set(pending)
        _active.outbox.labels("failed").set(failed)


@contextmanager
def served(bind: tuple[str, int]) -> Iterator[None]:
    """In `python -m bookshop`'s supervisor, before any worker starts: a fresh, empty directory
    for every worker's metric files (PROMETHEUS_MULTIPROC_DIR, which the workers inherit), and
    their sum served on `bind` (any path, /metrics included) from a thread; both gone at exit.

    OSError when `bind` can't be listened on."""
    host, port = bind
    # Fresh each start: files left by an earlier run's workers would be summed with this one's.
    with tempfile.TemporaryDirectory(prefix="bookshop-metrics-") as directory:
        before = os.environ.get(DIRECTORY)
        os.environ[DIRECTORY] = directory
        try:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            server, thread = start_http_server(port, addr=host, registry=registry)
            try:
                log.info("Metrics at http://%s:%s/metrics", host, port)
                yield
            finally:
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
        finally:
            if before is None:
                os.environ.pop(DIRECTORY, None)
            else:
                os.environ[DIRECTORY] = before
