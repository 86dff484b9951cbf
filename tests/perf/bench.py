"""`make bench`: the shop under load against a slow (250 ms) Stripe sandbox, beside a bare baseline;
then the shop's pages at three catalog sizes on SQLite and PostgreSQL (tests/perf/catalog.py).

Starts the sandbox, the shop (`python -m bookshop`, production settings) and the baseline app
(tests/perf/baseline.py, same Hypercorn settings) on free loopback ports, drives each scenario with
wrk from its own process (warm-up excluded, fixed windows, a request budget), prints a table and
writes it as JSON to bench-results/. docs/performance.md explains the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import math
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

import httpx
import pycurl
import stripe
from quart import Quart

from bookshop.database import Database
from bookshop.sandbox.settings import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from bookshop.stock import Stock, StockLevel
from tests.fixtures.app import BOOKS, TEST_CATALOG
from tests.perf import catalog, load, servers
from tests.perf.baseline import ADDRESS, CART
from tests.perf.load import LoadResult
from tests.perf.results import Target, machine, save, shown, targets_table
from tests.perf.servers import ROOT, ProcessMemory, Server, free_port, sandbox_port

T = TypeVar("T")
RESULTS = ROOT / "bench-results"
HTMX = {"HX-Request": "true"}
SEARCH = "the"
PAID_CARD = "4242424242424242"
HEALTHZ_PROBE = (2, 10)  # connections, pause (ms) between a connection's requests: a light probe
SCENARIOS = ("page", "grid", "checkout", "pay", "status", "healthz", "pay-stock")
# "pay-stock": the pay step with the cart's books counted, so each Pay reserves and sells them.
PAY_STOCK = "pay step, stock counted"
STOCK_COPIES = 10_000_000  # of each book: more than any bench sells
EMAIL = "reader@example.com"
# What the checkout page shows (its total, lines and destination): the pay step sends it back.
SHOWN_TOTAL = re.compile(
    r'class="total" data-amount="([^"]*)" data-lines="([^"]*)" data-destination="([^"]*)"'
)
# Tokens made ahead of a pay-step window: the expected rate x its seconds x this.
TOKEN_MARGIN = 1.5
TOKENS_IN_FLIGHT = 100  # concurrent requests to the sandbox's test helper
TOKEN_ATTEMPTS = 3

# The targets, for a 2-core machine.
PAY_SHARE_OF_CEILING = 0.90
PAY_P99_MS = 1200  # two Stripe calls in a row
HEALTHZ_P99_MS = 50
SHARE_OF_BASELINE = 0.80
WORKER_PEAK_MB = 150


@dataclass
class Row:
    """One scenario at one concurrency: the median of its windows, and the windows."""

    scenario: str
    server: str
    concurrency: int
    median: LoadResult
    windows: list[LoadResult] = field(default_factory=list)
    # CPU time per request (median over the windows): noise on a shared machine slows requests
    # down but barely changes what each one costs, so this is what to tune against.
    cpu_ms: float = 0.0
    sandbox_cpu_ms: float = 0.0


@dataclass(frozen=True)
class Options:
    """What the command line chose."""

    workers: int
    concurrency: tuple[int, ...]
    seconds: int
    runs: int
    warmup: int
    latency_ms: int
    max_requests: int
    pool_size: int | None
    sandbox_nice: int
    out: Path
    # The catalog sizes (tests/perf/catalog.py): run them, and only them.
    run_catalog: bool = True
    catalog_only: bool = False
    catalog_sizes: tuple[int, ...] = catalog.SIZES
    catalog_databases: tuple[str, ...] = catalog.DATABASES
    catalog_concurrency: int = 10
    scenarios: tuple[str, ...] = SCENARIOS

    def catalog_options(self) -> catalog.CatalogOptions:
        """The catalog part's options: its own sizes, databases and concurrency, the rest shared."""
        return catalog.CatalogOptions(
            sizes=self.catalog_sizes,
            databases=self.catalog_databases,
            workers=self.workers,
            concurrency=self.catalog_concurrency,
            seconds=self.seconds,
            runs=self.runs,
            warmup=self.warmup,
            max_requests=self.max_requests,
            sandbox_nice=self.sandbox_nice,
            out=self.out,
        )


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line (defaults: what the README recommends for 2 cores)."""
    parser = argparse.ArgumentParser(prog="python -m tests.perf.bench", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="shop Hypercorn workers")
    parser.add_argument("--concurrency", default="10,100,200", help="comma-separated")
    parser.add_argument("--seconds", type=int, default=5, help="length of one window (s)")
    parser.add_argument("--runs", type=int, default=3, help="windows per scenario (median)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds first")
    parser.add_argument("--latency-ms", type=int, default=250, help="injected Stripe latency")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per window")
    parser.add_argument(
        "--sandbox-nice",
        type=int,
        default=10,
        help="nice value of the sandbox: Stripe's stand-in yields the cores to the shop (0: not)",
    )
    parser.add_argument("--pool-size", type=int, default=None, help="STRIPE_POOL_SIZE")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of: {', '.join(SCENARIOS)}",
    )
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument(
        "--catalog-only", action="store_true", help="run only the catalog sizes (catalog.py)"
    )
    parts.add_argument("--no-catalog", action="store_true", help="skip the catalog sizes")
    catalog.add_arguments(parser, prefix="catalog-")
    args = parser.parse_args(argv)
    if not 0 <= args.sandbox_nice <= 19:
        # A negative value would raise the sandbox above the shop, and needs root besides.
        parser.error("--sandbox-nice must be from 0 (the shop's priority) to 19 (the lowest)")
    sizes, databases = catalog.chosen(args.catalog_sizes, args.catalog_databases, parser)
    scenarios = tuple(part.strip() for part in args.scenarios.split(",") if part.strip())
    if unknown := sorted(set(scenarios) - set(SCENARIOS)):
        parser.error(f"unknown scenarios: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    return Options(
        workers=args.workers,
        concurrency=tuple(int(part) for part in args.concurrency.split(",") if part.strip()),
        seconds=args.seconds,
        runs=args.runs,
        warmup=args.warmup,
        latency_ms=args.latency_ms,
        max_requests=args.max_requests,
        pool_size=args.pool_size,
        sandbox_nice=args.sandbox_nice,
        out=args.out,
        run_catalog=not args.no_catalog,
        catalog_only=args.catalog_only,
        catalog_sizes=sizes,
        catalog_databases=databases,
        catalog_concurrency=args.catalog_concurrency,
        scenarios=scenarios,
    )


# Signs the shop's session cookie, so that the benchmark can hand every checkout a cart.
SESSION_SECRET = secrets.token_urlsafe(32)
# The session's CSRF secret, as the shop encodes it; the pay step sends it back bare (accepted, as
# from a page served before tokens were masked: bookshop/security.py).
CSRF_TOKEN = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def cart_cookie(books: Sequence[str] = CART) -> str:
    """A session cookie holding a cart of these books, where they go and a CSRF secret, and no
    checkout yet: each request that sends it is a new shopper checking out that cart (and each
    Pay, with no intent in the session, makes a new one)."""
    app = Quart(__name__)
    app.secret_key = SESSION_SECRET
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    session = {
        "cart": [[book, 1] for book in books],
        "address": asdict(ADDRESS),
        "csrf": CSRF_TOKEN,
    }
    return f"session={serializer.dumps(session)}"


def shop_environment(options: Options, sandbox: Server, port: int, tmp: Path) -> dict[str, str]:
    """Production settings against the benchmark's sandbox (so the shop starts none of its own),
    the catalog seeded from the tests' 14 books (the cart's among them)."""
    env = servers.shop_environment(
        port=port,
        workers=options.workers,
        sandbox_url=sandbox.url,
        database_url=f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}",
        secret_key=SESSION_SECRET,
        catalog_seed=TEST_CATALOG,
    )
    if options.pool_size is not None:
        env["STRIPE_POOL_SIZE"] = str(options.pool_size)
    return env


def pay_one_intent(sandbox: Server, book_id: str) -> tuple[str, str]:
    """A succeeded PaymentIntent made as the shop and Stripe.js would: (id, client secret)."""
    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url})
    book = BOOKS[book_id]
    intent = client.v1.payment_intents.create(
        params={
            "amount": book.price,
            "currency": "sgd",
            "automatic_payment_methods": {"enabled": True},
            "metadata": {"lines_1": f"{book.id}:1:{book.price}", "checkout": "bench"},
        }
    )
    assert intent.client_secret is not None
    response = httpx.post(
        f"{sandbox.url}/v1/payment_intents/{intent.id}/confirm",
        data={
            "key": DEFAULT_PUBLISHABLE_KEY,
            "client_secret": intent.client_secret,
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": PAID_CARD,
            "payment_method_data[card][exp_month]": "12",
            "payment_method_data[card][exp_year]": "2034",
            "payment_method_data[card][cvc]": "123",
            "payment_method_data[billing_details][address][postal_code]": "12345",
            "return_url": "http://127.0.0.1/success",
        },
        timeout=10,
    )
    response.raise_for_status()
    if response.json()["status"] != "succeeded":
        raise RuntimeError(f"the bench's payment did not succeed: {response.text}")
    return intent.id, intent.client_secret


async def _make_tokens(sandbox_url: str, count: int) -> list[str]:
    # TOKENS_IN_FLIGHT clients of one connection each, each making its share in turn: one client
    # with that many connections and thousands of requests queued spends more CPU in its pool's
    # bookkeeping (per request, over every connection) than the sandbox spends making tokens.
    async def share(n: int) -> list[str]:
        made: list[str] = []
        async with httpx.AsyncClient(base_url=sandbox_url, timeout=60) as client:
            while len(made) < n:
                for tried in range(TOKEN_ATTEMPTS):
                    try:
                        response = await client.post(
                            "/v1/test_helpers/confirmation_tokens",
                            data={"payment_method": "pm_card_visa"},
                            auth=(DEFAULT_SECRET_KEY, ""),
                        )
                        break
                    except httpx.TransportError:
                        # A kept-alive connection the sandbox closed as it was reused: again.
                        if tried + 1 == TOKEN_ATTEMPTS:
                            raise
                response.raise_for_status()
                made.append(str(response.json()["id"]))
        return made

    clients = min(TOKENS_IN_FLIGHT, count)
    shares = [count // clients + (1 if each < count % clients else 0) for each in range(clients)]
    made = await asyncio.gather(*(share(n) for n in shares))
    return [token for part in made for token in part]


def make_tokens(sandbox: Server, count: int) -> list[str]:
    """`count` ConfirmationTokens paying with Visa's test card, made with the sandbox's test
    helper (as a browser's Payment Element would make one a Pay), many at a time."""
    return asyncio.run(_make_tokens(sandbox.url, count))


def pay_form(shop: Server, headers: Mapping[str, str]) -> str:
    """The pay step's form but its token, URL-encoded: what the cart's checkout page shows."""
    response = httpx.get(f"{shop.url}/checkout", headers=dict(headers), timeout=10)
    response.raise_for_status()
    found = SHOWN_TOTAL.search(response.text)
    if found is None:
        raise RuntimeError("the checkout page shows no total to pay")
    total, lines, destination = (html.unescape(part) for part in found.groups())
    return urlencode(
        {
            "email": EMAIL,
            "lines": lines,
            "destination": destination,
            "total": total,
            "csrf_token": CSRF_TOKEN,
        }
    )


def check_pays(server: Server, sandbox: Server, form: str, headers: Mapping[str, str]) -> None:
    """Fail early when one Pay does not answer with the receipt."""
    (token,) = make_tokens(sandbox, 1)
    response = httpx.post(
        f"{server.url}/checkout/pay",
        content=f"{form}&confirmation_token={token}",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    if response.status_code != 200 or 'data-outcome="succeeded"' not in response.text:
        raise RuntimeError(
            f"{server.name}'s pay step answered {response.status_code}, not the receipt: "
            f"{response.text[:300]}"
        )


def check_answers(url: str, headers: Mapping[str, str] | None = None) -> None:
    """Fail early, before any load, when a scenario's URL does not answer 200."""
    response = httpx.get(url, headers=dict(headers or {}), timeout=10)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}, not 200")


class Bench:
    """Runs the scenarios and keeps their rows."""

    def __init__(self, options: Options, sandbox: Server, log: Callable[[str], None]) -> None:
        self.options = options
        self.sandbox = sandbox
        self.log = log
        self.rows: list[Row] = []

    def measure(
        self,
        scenario: str,
        servers: Sequence[Server],
        path: str,
        concurrency: int,
        headers: Mapping[str, str] | None = None,
    ) -> list[Row]:
        """Warm up, then run the windows (taking turns between servers) and keep their medians.

        Taking turns means the shop's window and the baseline's next to it meet the same noise
        from the rest of the machine, so their ratio is steadier than either number.
        """
        options = self.options
        self.log(f"  {scenario} ({', '.join(server.name for server in servers)}) c={concurrency}")
        for server in servers:
            if options.warmup > 0:
                warmup = load.wrk_command(server.url + path, concurrency, options.warmup, headers)
                load.run(warmup, options.warmup)
        windows: dict[str, list[LoadResult]] = {server.name: [] for server in servers}
        cpu: dict[str, list[float]] = {server.name: [] for server in servers}
        sandbox_cpu: dict[str, list[float]] = {server.name: [] for server in servers}
        for _ in range(options.runs):
            for server in servers:
                command = load.wrk_command(
                    server.url + path, concurrency, options.seconds, headers, options.max_requests
                )
                before = server.cpu_seconds(), self.sandbox.cpu_seconds()
                result = load.run(command, options.seconds)
                after = server.cpu_seconds(), self.sandbox.cpu_seconds()
                requests = max(result.requests, 1)
                windows[server.name].append(result)
                cpu[server.name].append(1000 * (after[0] - before[0]) / requests)
                sandbox_cpu[server.name].append(1000 * (after[1] - before[1]) / requests)
        return self.keep(scenario, servers, concurrency, windows, cpu, sandbox_cpu)

    def keep(
        self,
        scenario: str,
        servers: Sequence[Server],
        concurrency: int,
        windows: Mapping[str, list[LoadResult]],
        cpu: Mapping[str, list[float]],
        sandbox_cpu: Mapping[str, list[float]],
    ) -> list[Row]:
        """A row per server of its windows' medians, kept for the tables."""
        rows = [
            Row(
                scenario,
                server.name,
                concurrency,
                load.median(windows[server.name]),
                windows[server.name],
                cpu_ms=round(statistics.median(cpu[server.name]), 2),
                sandbox_cpu_ms=round(statistics.median(sandbox_cpu[server.name]), 2),
            )
            for server in servers
        ]
        self.rows.extend(rows)
        return rows

    def expected_pay_rate(self, concurrency: int) -> float:
        """Paid orders a second at most: each waits on two Stripe calls in a row."""
        latency_s = self.options.latency_ms / 1000
        return concurrency / (2 * latency_s) if latency_s else 1000.0

    def token_file(self, folder: Path, name: str, count: int) -> Path:
        """A file of `count` fresh ConfirmationTokens, one a line."""
        count = min(count, self.options.max_requests)
        path = folder / f"{name}.tokens"
        path.write_text("\n".join(make_tokens(self.sandbox, count)) + "\n")
        return path

    def measure_pay(
        self,
        scenario: str,
        servers: Sequence[Server],
        concurrency: int,
        headers: Mapping[str, str],
        form: str,
    ) -> list[Row]:
        """The pay step, as measure() (warm-up, windows taking turns), each window on tokens made
        before it; its CPU figures are per paid order."""
        options = self.options
        self.log(f"  {scenario} ({', '.join(server.name for server in servers)}) c={concurrency}")
        rate = self.expected_pay_rate(concurrency)
        windows: dict[str, list[LoadResult]] = {server.name: [] for server in servers}
        cpu: dict[str, list[float]] = {server.name: [] for server in servers}
        sandbox_cpu: dict[str, list[float]] = {server.name: [] for server in servers}
        with tempfile.TemporaryDirectory(prefix="bookshop-bench-pay-") as folder:
            for server in servers:
                if options.warmup > 0:
                    count = math.ceil(rate * options.warmup * TOKEN_MARGIN)
                    tokens = self.token_file(Path(folder), "warmup", count)
                    url = f"{server.url}/checkout/pay"
                    command = load.pay_command(
                        url, concurrency, options.warmup, headers, tokens, form
                    )
                    load.run(command, options.warmup)
            for _ in range(options.runs):
                for server in servers:
                    count = math.ceil(rate * options.seconds * TOKEN_MARGIN)
                    tokens = self.token_file(Path(folder), server.name, count)
                    command = load.pay_command(
                        f"{server.url}/checkout/pay",
                        concurrency,
                        options.seconds,
                        headers,
                        tokens,
                        form,
                    )
                    before = server.cpu_seconds(), self.sandbox.cpu_seconds()
                    result = load.run(command, options.seconds)
                    after = server.cpu_seconds(), self.sandbox.cpu_seconds()
                    if result.requests >= count:
                        self.log(f"    {server.name}: the {count} tokens ran out before the end")
                    paid = max(result.paid, 1)
                    windows[server.name].append(result)
                    cpu[server.name].append(1000 * (after[0] - before[0]) / paid)
                    sandbox_cpu[server.name].append(1000 * (after[1] - before[1]) / paid)
        return self.keep(scenario, servers, concurrency, windows, cpu, sandbox_cpu)

    def healthz_under_load(
        self, server: Server, concurrency: int, headers: Mapping[str, str], form: str
    ) -> Row:
        """/healthz from a light probe while `concurrency` shoppers' Pays wait on Stripe."""
        options = self.options
        self.log(f"  /healthz ({server.name}) while {concurrency} Pays wait on Stripe")
        total = options.warmup + options.runs * (options.seconds + 1) + 5
        with tempfile.TemporaryDirectory(prefix="bookshop-bench-healthz-") as folder:
            # Enough for the whole load at the ceiling: it runs below it, never out of tokens.
            count = math.ceil(self.expected_pay_rate(concurrency) * total)
            tokens = self.token_file(Path(folder), "healthz", count)
            url = f"{server.url}/checkout/pay"
            pays = load.start(load.pay_command(url, concurrency, total, headers, tokens, form))
            return self._probe_healthz(server, concurrency, pays, total)

    def _probe_healthz(
        self, server: Server, concurrency: int, pays: subprocess.Popen[str], total: int
    ) -> Row:
        options = self.options
        try:
            time.sleep(options.warmup + 1)  # until every connection has a checkout in flight
            connections, pause_ms = HEALTHZ_PROBE
            probe = load.wrk_command(
                f"{server.url}/healthz", connections, options.seconds, pause_ms=pause_ms
            )
            windows = [load.run(probe, options.seconds) for _ in range(options.runs)]
        finally:
            background = load.finish(pays, grace_s=total + 30)
        row = Row("healthz under pay load", server.name, concurrency, load.median(windows), windows)
        self.rows.append(row)
        self.rows.append(Row("pay step (background)", server.name, concurrency, background, []))
        return row

    def find(self, scenario: str, server: str, concurrency: int) -> LoadResult | None:
        """A measured row's median, if that scenario ran."""
        row = self.row(scenario, server, concurrency)
        return row.median if row else None

    def row(self, scenario: str, server: str, concurrency: int) -> Row | None:
        """A measured row, if that scenario ran."""
        for row in self.rows:
            if (row.scenario, row.server, row.concurrency) == (scenario, server, concurrency):
                return row
        return None


def run_scenarios(bench: Bench, shop: Server, baseline: Server) -> None:
    """Every scenario of the issue, shop and baseline interleaved so noise hits both alike."""
    book_id = next(iter(BOOKS))
    intent_id, client_secret = pay_one_intent(bench.sandbox, book_id)
    query = urlencode({"payment_intent": intent_id, "payment_intent_client_secret": client_secret})
    # A new shopper with a cart of three books: every page view opens a checkout (no intent).
    checkout, cart = "/checkout", {"Cookie": cart_cookie()}
    # Its Pay, as checkout.js posts it (htmx): every one creates and confirms a new intent.
    paying = {**cart, **HTMX}
    status = f"/payment/status?{query}"
    search = f"/?q={SEARCH}"
    for server, path, headers in [
        (shop, "/", None),
        (shop, search, HTMX),
        (baseline, "/", None),
        (baseline, search, HTMX),
        (shop, checkout, cart),
        (baseline, checkout, cart),
        (shop, status, None),
    ]:
        check_answers(server.url + path, headers)
    form = pay_form(shop, cart)
    chosen = bench.options.scenarios
    if "pay" in chosen or "healthz" in chosen:
        for server in (shop, baseline):
            check_pays(server, bench.sandbox, form, paying)
    for concurrency in bench.options.concurrency:
        if "page" in chosen:
            bench.measure("shop page", (shop, baseline), "/", concurrency)
        if "grid" in chosen:
            bench.measure("grid fragment", (shop, baseline), search, concurrency, HTMX)
        if "checkout" in chosen:
            bench.measure("checkout, new shopper", (shop, baseline), checkout, concurrency, cart)
        if "pay" in chosen:
            bench.measure_pay("pay step", (shop, baseline), concurrency, paying, form)
        if "status" in chosen:
            bench.measure("payment status, paid", (shop,), status, concurrency)
    if "healthz" in chosen:
        # The baseline too: how responsive the bare stack stays with the same Pays in flight.
        for server in (shop, baseline):
            bench.healthz_under_load(server, max(bench.options.concurrency), paying, form)
    if "pay-stock" in chosen:
        # Last: once counted, the books stay counted for every later Pay. The shop alone (the
        # baseline counts nothing: its pay step row stands beside both).
        database_url = shop.env["DATABASE_URL"]
        count_stock(database_url, CART, STOCK_COPIES)
        check_pays(shop, bench.sandbox, form, paying)
        for concurrency in bench.options.concurrency:
            bench.measure_pay(PAY_STOCK, (shop,), concurrency, paying, form)
        time.sleep(2)  # the last window's Pays still in flight finish
        levels = stock_levels(database_url, CART)
        bench.log(
            "    stock counted: "
            + ", ".join(
                f"{level.book_id} {level.sold} sold, {level.reserved} held" for level in levels
            )
        )
        if any(level.sold == 0 for level in levels):
            raise RuntimeError("the pay step with stock counted sold no copies")


async def _with_stock(database_url: str, use: Callable[[Stock], Awaitable[T]]) -> T:
    database = Database(database_url)
    await database.open()
    try:
        return await use(Stock(database))
    finally:
        await database.close()


def count_stock(database_url: str, books: Sequence[str], copies: int) -> None:
    """Count these books' copies in the shop's database: its pay step then reserves and sells
    them (a book not counted is sold without a stock row to change)."""

    async def count(stock: Stock) -> None:
        for book_id in books:
            await stock.set(book_id, copies, "bench: pay-stock")

    asyncio.run(_with_stock(database_url, count))


def stock_levels(database_url: str, books: Sequence[str]) -> list[StockLevel]:
    """These books' stock as the shop's database has it."""

    async def read(stock: Stock) -> list[StockLevel]:
        return [level for level in await stock.levels() if level.book_id in books]

    return asyncio.run(_with_stock(database_url, read))


def evaluate(bench: Bench, memory: Mapping[str, list[ProcessMemory]]) -> list[Target]:
    """The issue's targets against this run's medians."""
    options = bench.options
    targets: list[Target] = []
    paying = bench.row("pay step", "shop", 100)
    bare = bench.find("pay step", "baseline", 100)
    if paying is not None:
        pay = paying.median
        ceiling = bench.expected_pay_rate(100)
        floor = PAY_SHARE_OF_CEILING * ceiling
        # The bare stack's figure beside the shop's: what Quart, Hypercorn and stripe-python
        # allow on this machine before the shop adds anything.
        rate_bare = f" (baseline {bare.paid_per_second:.0f})" if bare else ""
        p99_bare = f" (baseline {bare.p99_ms:.0f} ms)" if bare else ""
        targets += [
            Target(
                "pay step c=100: paid orders/s",
                f"{pay.paid_per_second:.0f}{rate_bare}; CPU/order {paying.cpu_ms:.2f} ms, "
                f"sandbox {paying.sandbox_cpu_ms:.2f} ms",
                f">= {floor:.0f} ({PAY_SHARE_OF_CEILING:.0%} of {ceiling:.0f})",
                pay.paid_per_second >= floor,
            ),
            Target(
                "pay step c=100: p99",
                f"{pay.p99_ms:.0f} ms{p99_bare}",
                f"< {PAY_P99_MS} ms",
                pay.p99_ms < PAY_P99_MS,
            ),
            Target("pay step c=100: errors", str(pay.errors), "0", pay.errors == 0),
        ]
    top = max(options.concurrency)
    healthz = bench.find("healthz under pay load", "shop", top)
    bare_healthz = bench.find("healthz under pay load", "baseline", top)
    if healthz is not None:
        healthz_bare = f" (baseline {bare_healthz.p99_ms:.1f} ms)" if bare_healthz else ""
        targets.append(
            Target(
                f"/healthz p99 while {top} Pays wait",
                f"{healthz.p99_ms:.1f} ms{healthz_bare}",
                f"< {HEALTHZ_P99_MS} ms",
                healthz.p99_ms < HEALTHZ_P99_MS,
            )
        )
    for scenario in ("shop page", "grid fragment", "checkout, new shopper"):
        for concurrency in options.concurrency:
            shop = bench.row(scenario, "shop", concurrency)
            baseline = bench.row(scenario, "baseline", concurrency)
            if shop is None or baseline is None:
                continue
            # Each shop window against the baseline window beside it, then the median ratio.
            ratios = [
                mine.rps / theirs.rps
                for mine, theirs in zip(shop.windows, baseline.windows, strict=True)
                if theirs.rps
            ]
            share = statistics.median(ratios) if ratios else 0.0
            targets.append(
                Target(
                    f"{scenario} c={concurrency}: rps vs baseline",
                    f"{share:.0%} ({shop.median.rps:.0f} / {baseline.median.rps:.0f}; CPU/req "
                    f"{shop.cpu_ms:.2f} / {baseline.cpu_ms:.2f} ms)",
                    f">= {SHARE_OF_BASELINE:.0%}",
                    share >= SHARE_OF_BASELINE,
                )
            )
    workers = [item for item in memory.get("shop", []) if item.role == "worker"]
    if workers:
        peak = max(item.peak_mb for item in workers)
        targets.append(
            Target(
                "peak memory per shop worker",
                f"{peak:.0f} MB",
                f"< {WORKER_PEAK_MB} MB",
                peak < WORKER_PEAK_MB,
            )
        )
    return targets


def beside_the_pay_step(rows: Sequence[Row]) -> list[Row]:
    """The rows as measured, but those of the pay step with stock counted (measured last) right
    after the pay step's own."""
    counted = [row for row in rows if row.scenario == PAY_STOCK]
    others = [row for row in rows if row.scenario != PAY_STOCK]
    paying = [index for index, row in enumerate(others) if row.scenario == "pay step"]
    at = paying[-1] + 1 if paying else len(others)
    return [*others[:at], *counted, *others[at:]]


def table(bench: Bench, memory: Mapping[str, list[ProcessMemory]], targets: list[Target]) -> str:
    """The results as Markdown tables (what docs/performance.md shows)."""
    lines = [
        "| scenario | server | concurrency | req/s | paid/s | p50 ms | p95 ms | p99 ms | errors "
        "| CPU ms/req | sandbox CPU ms/req |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in beside_the_pay_step(bench.rows):
        result = row.median
        # The pay step's CPU columns are per paid order.
        paid = f"{result.paid_per_second:.0f}" if row.scenario.startswith("pay step") else "-"
        lines.append(
            f"| {row.scenario} | {row.server} | {row.concurrency} | {result.rps:.0f} | {paid} | "
            f"{result.p50_ms:.1f} | {result.p95_ms:.1f} | {result.p99_ms:.1f} | {result.errors} | "
            f"{row.cpu_ms:.2f} | {row.sandbox_cpu_ms:.2f} |"
        )
    lines += ["", "| process | role | peak memory (MB) |", "| --- | --- | ---: |"]
    for name, processes in memory.items():
        for item in processes:
            lines.append(f"| {name} | {item.role} | {item.peak_mb:.0f} |")
    lines += ["", *targets_table(targets)]
    return "\n".join(lines)


def versions(wrk: str) -> dict[str, str]:
    """The exact versions that produced the numbers."""
    found = {"python": platform.python_version(), "wrk": wrk}
    for package in (
        "quart",
        "hypercorn",
        "uvloop",
        "stripe",
        "jinja2",
        "werkzeug",
        "pycurl",
        "h11",
    ):
        found[package] = version(package)
    found["libcurl"] = pycurl.version_info()[1]  # the shop's Stripe transport
    return found


def run_shop_bench(
    options: Options, log: Callable[[str], None]
) -> tuple[Bench, dict[str, list[ProcessMemory]]] | None:
    """The shop and the baseline against the slow sandbox: the rows and each server's memory,
    or None when it could not run (the servers' logs printed)."""
    with tempfile.TemporaryDirectory(prefix="bookshop-bench-") as folder:
        tmp = Path(folder)
        sandbox = Server(
            "sandbox",
            "bookshop.sandbox",
            sandbox_port(),
            "/_sandbox/health",
            args=[],
            log_path=tmp / "sandbox.log",
            nice=options.sandbox_nice,
        )
        sandbox.args = ["--port", str(sandbox.port), "--latency-ms", str(options.latency_ms)]
        shop_port, baseline_port = free_port(), free_port()
        shop = Server(
            "shop",
            "bookshop",
            shop_port,
            "/healthz",
            env=shop_environment(options, sandbox, shop_port, tmp),
            log_path=tmp / "shop.log",
        )
        baseline = Server(
            "baseline",
            "tests.perf.baseline",
            baseline_port,
            "/healthz",
            env=shop_environment(options, sandbox, baseline_port, tmp),
            log_path=tmp / "baseline.log",
        )
        servers = (sandbox, shop, baseline)
        bench = Bench(options, sandbox, log)
        try:
            log(f"bench: starting the sandbox ({options.latency_ms} ms), shop and baseline")
            for server in servers:
                server.start()
            run_scenarios(bench, shop, baseline)
            memory = {server.name: server.memory() for server in servers}
        except (RuntimeError, load.LoadError) as error:
            log(f"bench: {error}")
            for server in servers:
                if server.log_path and server.log_path.exists():
                    log(f"--- last lines of the {server.name} log ---")
                    log("\n".join(server.log_path.read_text(errors="replace").splitlines()[-15:]))
            return None
        finally:
            for server in servers:
                server.stop()
    return bench, memory


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the tables; write the JSON. Exit 1 only when it could not run
    (what did run is still written)."""
    options = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        wrk = load.wrk_version()
    except load.LoadError as error:
        log(f"bench: {error}")
        return 1
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    command = "python -m tests.perf.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    result: dict[str, object] = {
        "started": started.isoformat(timespec="seconds"),
        "command": command.strip(),
        "commit": catalog.commit(),
        "versions": versions(wrk),
        "options": {**asdict(options), "out": str(options.out)},
    }
    reports: list[str] = []
    failed = False
    if not options.catalog_only:
        measured = run_shop_bench(options, log)
        if measured is None:
            return 1
        bench, memory = measured
        targets = evaluate(bench, memory)
        report = table(bench, memory, targets)
        result |= {
            "rows": [asdict(row) for row in bench.rows],
            "memory": {name: [asdict(item) for item in items] for name, items in memory.items()},
            "targets": [asdict(target) for target in targets],
            "table": report,
        }
        missed = [target.name for target in targets if not target.met]
        reports.append(
            f"{report}\n\nTargets: {len(targets) - len(missed)} of {len(targets)} met"
            + (f" (missed: {', '.join(missed)})" if missed else "")
        )
    if options.run_catalog:
        log("bench: catalog sizes")
        catalog_options = options.catalog_options()
        try:
            found = catalog.run(catalog_options, log)
        except (RuntimeError, load.LoadError, OSError, subprocess.SubprocessError) as error:
            log(f"bench: catalog sizes: {error}")
            result["catalog"] = {"error": str(error)}
            failed = True
        else:
            found.versions["wrk"] = wrk
            result["catalog"] = catalog.as_json(found, catalog_options)
            reports.append(f"{catalog.table(found)}\n\n{catalog.summary(found)}")
    result["machine"] = machine(load_before)
    path = save(options.out, started, result)
    print("\n\n".join(reports))
    print()
    print(
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after; "
        + ", ".join(f"{name} {value}" for name, value in versions(wrk).items())
    )
    print(f"Written to {shown(path)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
