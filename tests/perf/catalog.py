"""`make bench`'s catalog sizes: the shop page, searches and book pages with 14, 10,000 and 100,000
books, on SQLite and on PostgreSQL. `python -m tests.perf.catalog` (or `python -m tests.perf.bench
--catalog-only`) runs it alone.

For each database and size: a fresh database (a SQLite file; a database in a throwaway PostgreSQL
cluster on loopback, started and stopped here); the shop started once, so that it migrates (its
seed is empty: the catalog is exactly the books imported); `quart --app bookshop catalog import`
of `generated_books(size)` as CSV, timed; then the shop as `make bench` serves it (`python -m
bookshop`, production settings, rate limits off, the sandbox as Stripe) driven by wrk at a modest
concurrency: the shop page (one URL: the catalog's 0.5 s cache answers it, as in production),
searches and book pages (taking turns over many URLs, so most requests query the database).
Prints a table and writes it as JSON to bench-results/. docs/performance.md explains the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import resource
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

from bookshop.catalog import Book
from bookshop.catalog.store import CACHE_SECONDS
from tests.fixtures.catalogs import (
    ADJECTIVES,
    FIRST_NAMES,
    LAST_NAMES,
    NOUNS,
    TOPICS,
    generated_books,
    write_catalog_csv,
)
from tests.fixtures.database import (
    _create_database,
    _drop_database,
    _throwaway_cluster,
    _with_database,
    run_async,
)
from tests.perf import load
from tests.perf.load import LoadResult
from tests.perf.results import Target, machine, save, shown, targets_table
from tests.perf.servers import (
    ROOT,
    Server,
    free_port,
    parent_pid,
    sandbox_port,
    shop_environment,
    tree_cpu_seconds,
)

RESULTS = ROOT / "bench-results"
SIZES = (14, 10_000, 100_000)
DATABASES = ("sqlite", "postgresql")
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
SHOP_PAGE, SEARCH, BOOK_PAGE = "shop page", "search", "book page"
# The searches again, one at a time: at the load's concurrency wrk keeps that many requests in
# flight, so its p99 is mostly time spent queued behind the others (concurrency x CPU per request
# / cores); one at a time, p99 is what the slower searches cost a shopper on an idle shop.
ONE_SEARCH = "search, one at a time"
# Distinct URLs the searches and book pages take turns over: enough that few repeat within the
# catalog's cache time, so most requests reach the database.
SEARCHES = 160
BOOK_URLS = 2000
# URLs fetched one by one before the load (each must answer 200; searches are counted too).
CHECKED_BOOK_URLS = 50
# How a page shows a book in the grid (tests count cards the same way).
CARD = '<article class="card h-100 book">'

# The targets.
CPU_RATIO = 1.3  # a page's CPU per request at the largest catalog over the smallest
SEARCH_P99_MS = 20
MEMORY_GROWTH_MB = 20  # worker peak memory at the largest catalog over the smallest
IMPORT_S = 60  # for 100,000 rows


@dataclass(frozen=True)
class CatalogOptions:
    """What the command line chose."""

    sizes: tuple[int, ...] = SIZES
    databases: tuple[str, ...] = DATABASES
    workers: int = 2
    concurrency: int = 10
    seconds: int = 5
    runs: int = 3
    warmup: int = 2
    max_requests: int = 100_000
    sandbox_nice: int = 10
    out: Path = RESULTS


@dataclass(frozen=True)
class Scenario:
    """One page, as the URLs wrk asks for in turn."""

    page: str
    paths: tuple[str, ...]
    # wrk's connections (None: the options' concurrency).
    concurrency: int | None = None


@dataclass
class PageRow:
    """One page at one catalog size on one database: the median of its windows, and the windows."""

    database: str
    books: int
    page: str
    concurrency: int
    urls: int
    # Roughly the share of requests the cache could not answer (see queried_share).
    queried: float
    # Books the page shows, on average over its URLs (a search may find none).
    shown: float
    median: LoadResult
    windows: list[LoadResult] = field(default_factory=list)
    # CPU time per request of the shop's processes (SQLite works inside them), and of
    # PostgreSQL's (None on SQLite): medians over the windows.
    cpu_ms: float = 0.0
    database_cpu_ms: float | None = None


@dataclass
class SizeRun:
    """One catalog size on one database: its import, its pages, its workers' memory."""

    database: str
    books: int
    import_s: float
    import_cpu_s: float
    worker_peak_mb: float
    worker_resident_mb: float
    load_average: tuple[float, float, float]
    pages: list[PageRow] = field(default_factory=list)

    def page(self, name: str) -> PageRow | None:
        """The row of one page, if it ran."""
        return next((row for row in self.pages if row.page == name), None)


@dataclass
class CatalogResult:
    """Every size run, the databases that could not run and why, and the targets."""

    runs: list[SizeRun]
    skipped: dict[str, str]
    versions: dict[str, str]
    targets: list[Target] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The options that choose the catalog runs (`--sizes`, or `--catalog-sizes` in bench.py)."""
    parser.add_argument(
        f"--{prefix}sizes",
        default=",".join(str(size) for size in SIZES),
        help="comma-separated catalog sizes (books)",
    )
    parser.add_argument(
        f"--{prefix}databases",
        default=",".join(DATABASES),
        help="comma-separated: sqlite, postgresql (a throwaway cluster from Debian's binaries)",
    )
    parser.add_argument(
        f"--{prefix}concurrency", type=int, default=10, help="wrk connections per page"
    )


def chosen(
    sizes: str, databases: str, parser: argparse.ArgumentParser
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The sizes and databases named on the command line, checked."""
    try:
        size_list = tuple(int(part.replace("_", "")) for part in sizes.split(",") if part.strip())
    except ValueError:
        parser.error(f"sizes must be whole numbers: {sizes!r}")
    database_list = tuple(part.strip() for part in databases.split(",") if part.strip())
    unknown = [name for name in database_list if name not in DATABASES]
    if unknown or not database_list:
        parser.error(f"databases are {', '.join(DATABASES)}: not {databases!r}")
    if not size_list or min(size_list) < 1:
        parser.error("sizes must be 1 or more books")
    return tuple(sorted(set(size_list))), database_list


def parse_args(argv: Sequence[str] | None = None) -> CatalogOptions:
    """Options from the command line (defaults: the issue's sizes, both databases)."""
    parser = argparse.ArgumentParser(prog="python -m tests.perf.catalog", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--workers", type=int, default=2, help="shop Hypercorn workers")
    parser.add_argument("--seconds", type=int, default=5, help="length of one window (s)")
    parser.add_argument("--runs", type=int, default=3, help="windows per page (median)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds first")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per window")
    parser.add_argument("--sandbox-nice", type=int, default=10, help="nice value of the sandbox")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON")
    args = parser.parse_args(argv)
    sizes, databases = chosen(args.sizes, args.databases, parser)
    return CatalogOptions(
        sizes=sizes,
        databases=databases,
        workers=args.workers,
        concurrency=args.concurrency,
        seconds=args.seconds,
        runs=args.runs,
        warmup=args.warmup,
        max_requests=args.max_requests,
        sandbox_nice=args.sandbox_nice,
        out=args.out,
    )


def search_queries(count: int = SEARCHES) -> list[str]:
    """What shoppers type, in the generated catalog's words (its titles and authors): a word of a
    title, a topic, an author's name, the start of a word, two words. The same every run."""
    rng = random.Random(20240612)  # test data, not secrets
    words = [word.casefold() for word in [*NOUNS, *TOPICS, *ADJECTIVES, *LAST_NAMES]]
    queries = list(words)
    queries += [word[:4] for word in rng.sample(words, 16) if len(word) > 4]
    while len(set(queries)) < count:
        queries.append(
            rng.choice(
                [
                    f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}",
                    f"{rng.choice(TOPICS)} {rng.choice(NOUNS)}",
                    f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                ]
            ).casefold()
        )
    unique = list(dict.fromkeys(queries))[:count]
    rng.shuffle(unique)
    return unique


def scenarios(books: Sequence[Book]) -> list[Scenario]:
    """The pages: the shop page; searches; book pages spread evenly over the catalog."""
    count = min(BOOK_URLS, len(books))
    step = (len(books) - 1) / max(count - 1, 1)
    picked = list(dict.fromkeys(books[round(index * step)].id for index in range(count)))
    random.Random(20240613).shuffle(picked)
    searches = tuple(f"/?{urlencode({'q': query})}" for query in search_queries())
    return [
        Scenario(SHOP_PAGE, ("/",)),
        Scenario(SEARCH, searches),
        Scenario(ONE_SEARCH, searches, concurrency=1),
        Scenario(BOOK_PAGE, tuple(f"/books/{book_id}" for book_id in picked)),
    ]


def queried_share(rps: float, urls: int, workers: int) -> float:
    """About how many requests the catalog's cache could not answer, so that they queried the
    database: each worker keeps a URL's answer CACHE_SECONDS, and meanwhile k more requests for
    it (rps spread over the URLs and workers) are answered from the cache: 1 in 1 + k."""
    repeats = rps * CACHE_SECONDS / max(urls * workers, 1)
    return 1 / (1 + repeats)


class CatalogBench:
    """Runs each size on each database and keeps the results."""

    def __init__(self, options: CatalogOptions, tmp: Path, log: Callable[[str], None]) -> None:
        self.options = options
        self.tmp = tmp
        self.log = log
        self.secret = secrets.token_urlsafe(32)
        self.seed = tmp / "empty-seed.toml"
        self.seed.write_text("# No books: the benchmark imports its catalog.\n")
        self.sandbox = Server(
            "sandbox",
            "bookshop.sandbox",
            sandbox_port(),
            "/_sandbox/health",
            log_path=tmp / "sandbox.log",
            nice=options.sandbox_nice,
        )
        self.sandbox.args = ["--port", str(self.sandbox.port)]
        self.runs: list[SizeRun] = []
        self.skipped: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self._books: dict[int, list[Book]] = {}
        self._csv: dict[int, Path] = {}
        # PostgreSQL's server process, whose tree's CPU is the database's (None on SQLite).
        self._postmaster: int | None = None
        self.shop: Server | None = None

    def run(self) -> None:
        """Every database, every size (the sandbox and any PostgreSQL stopped at the end)."""
        self.sandbox.start()
        try:
            for database in self.options.databases:
                with self.database_server(database) as admin_url:
                    if admin_url is None and database != "sqlite":
                        continue
                    for size in self.options.sizes:
                        self.runs.append(self.run_size(database, admin_url, size))
        finally:
            self.sandbox.stop()

    @contextlib.contextmanager
    def database_server(self, database: str) -> Iterator[str | None]:
        """Nothing for SQLite; for PostgreSQL a throwaway cluster's admin URL (None, and the
        reason kept, when it cannot start)."""
        if database == "sqlite":
            self.versions["sqlite"] = sqlite3.sqlite_version
            yield None
            return
        self.log("catalog: starting a throwaway PostgreSQL cluster")
        with contextlib.contextmanager(_throwaway_cluster)() as server:
            if server.url is None:
                self.log(f"catalog: PostgreSQL skipped: {server.reason}")
                self.skipped[database] = server.reason
                yield None
                return
            self._postmaster, self.versions["postgresql"] = run_async(_postgres_facts(server.url))
            try:
                yield server.url
            finally:
                self._postmaster = None

    @contextlib.contextmanager
    def fresh_database(self, database: str, admin_url: str | None, size: int) -> Iterator[str]:
        """An empty database's URL, deleted afterwards."""
        name = f"bookshop_bench_{size}"
        if database == "sqlite":
            path = self.tmp / f"{name}.sqlite3"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
            return
        assert admin_url is not None
        run_async(_create_database(admin_url, name))
        try:
            yield _with_database(admin_url, name)
        finally:
            run_async(_drop_database(admin_url, name))

    def books(self, size: int) -> tuple[list[Book], Path]:
        """The generated catalog of this size and its CSV file (made once for both databases)."""
        if size not in self._books:
            self._books[size] = generated_books(size)
            self._csv[size] = write_catalog_csv(self.tmp / f"books-{size}.csv", self._books[size])
        return self._books[size], self._csv[size]

    def environment(self, database_url: str, port: int) -> dict[str, str]:
        """The shop's (and the import's) settings."""
        return shop_environment(
            port=port,
            workers=self.options.workers,
            sandbox_url=self.sandbox.url,
            database_url=database_url,
            secret_key=self.secret,
            catalog_seed=self.seed,
        )

    def new_shop(self, database_url: str, label: str) -> Server:
        """The shop as `make bench` starts it, on a free port (not started yet)."""
        port = free_port()
        return Server(
            "shop",
            "bookshop",
            port,
            "/healthz",
            env=self.environment(database_url, port),
            log_path=self.tmp / f"shop-{label}.log",
        )

    def run_size(self, database: str, admin_url: str | None, size: int) -> SizeRun:
        """One catalog size on one database, from an empty database to its measured pages."""
        label = f"{database}-{size}"
        books, csv = self.books(size)
        with self.fresh_database(database, admin_url, size) as url:
            self.log(f"catalog: {NAMES[database]}, {size:,} books: migrate, seed, import")
            first = self.shop = self.new_shop(url, f"{label}-first")
            try:
                first.start()
            finally:
                first.stop()
            import_s, import_cpu_s = self.import_catalog(url, csv, size)
            if database == "postgresql":
                # What autovacuum would have done a minute after the import: the planner's
                # statistics and the visibility map, so the first minute's plans are not measured.
                run_async(_vacuum_analyze(url))
            load_average = os.getloadavg()
            shop = self.shop = self.new_shop(url, label)
            try:
                shop.start()
                rows = [
                    self.measure(database, size, scenario, shop) for scenario in scenarios(books)
                ]
                workers = [item for item in shop.memory() if item.role == "worker"]
            finally:
                shop.stop()
                self.shop = None
        return SizeRun(
            database,
            size,
            round(import_s, 2),
            round(import_cpu_s, 2),
            max((item.peak_mb for item in workers), default=0.0),
            max((item.resident_mb for item in workers), default=0.0),
            load_average,
            rows,
        )

    def import_catalog(self, database_url: str, csv: Path, size: int) -> tuple[float, float]:
        """`quart --app bookshop catalog import` of the CSV: its wall time and CPU time (s)."""
        command = [str(Path(sys.executable).with_name("quart")), "--app", "bookshop"]
        command += ["catalog", "import", str(csv)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        completed = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **self.environment(database_url, free_port())},
            capture_output=True,
            text=True,
            timeout=30 * 60,
            check=False,
        )
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = (completed.stdout + completed.stderr).strip()
        if completed.returncode != 0 or f"{size} added" not in output:
            raise RuntimeError(f"catalog import of {size} books failed: {output[-2000:]}")
        self.log(f"  import: {seconds:.1f} s ({output.splitlines()[-1]})")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return seconds, cpu

    def database_cpu_seconds(self) -> float | None:
        """CPU time used so far by PostgreSQL's processes (None on SQLite: it is the shop's)."""
        if self._postmaster is None:
            return None
        # Its backends come and go (autovacuum's workers): count those that ended too.
        return tree_cpu_seconds(self._postmaster, reaped=True)

    def measure(self, database: str, size: int, scenario: Scenario, shop: Server) -> PageRow:
        """Check the page's URLs, warm up, then run the windows and keep their medians."""
        options = self.options
        found = check_pages(shop.url, scenario)
        paths = None
        if len(scenario.paths) > 1:
            paths = self.tmp / f"paths-{database}-{size}-{scenario.page.replace(' ', '-')}.txt"
            paths.write_text("\n".join(scenario.paths) + "\n")
        concurrency = scenario.concurrency or options.concurrency
        self.log(f"  {scenario.page}: {len(scenario.paths)} URL(s), c={concurrency}")

        def command(seconds: int, budget: int = 0) -> list[str]:
            return load.wrk_command(
                shop.url + scenario.paths[0],
                concurrency,
                seconds,
                max_requests=budget,
                paths=paths,
                only_2xx=True,
            )

        if options.warmup > 0:
            load.run(command(options.warmup), options.warmup)
        windows: list[LoadResult] = []
        cpu: list[float] = []
        database_cpu: list[float] = []
        for _ in range(options.runs):
            before = shop.cpu_seconds(), self.database_cpu_seconds()
            result = load.run(command(options.seconds, options.max_requests), options.seconds)
            after = shop.cpu_seconds(), self.database_cpu_seconds()
            requests = max(result.requests, 1)
            windows.append(result)
            cpu.append(1000 * (after[0] - before[0]) / requests)
            if before[1] is not None and after[1] is not None:
                database_cpu.append(1000 * (after[1] - before[1]) / requests)
        median = load.median(windows)
        return PageRow(
            database,
            size,
            scenario.page,
            concurrency,
            len(scenario.paths),
            round(queried_share(median.rps, len(scenario.paths), options.workers), 3),
            round(found, 1),
            median,
            windows,
            cpu_ms=round(statistics.median(cpu), 2),
            database_cpu_ms=round(statistics.median(database_cpu), 2) if database_cpu else None,
        )


def check_pages(base_url: str, scenario: Scenario) -> float:
    """Fail early, before any load, when a URL does not answer 200; the books the pages show on
    average (a sample of the book pages: each shows one)."""
    paths = scenario.paths
    if scenario.page == BOOK_PAGE:
        paths = paths[:CHECKED_BOOK_URLS]
    counts = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for path in paths:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}, not 200")
            counts.append(1 if scenario.page == BOOK_PAGE else response.text.count(CARD))
    return statistics.fmean(counts)


async def _postgres_facts(url: str) -> tuple[int, str]:
    # The server process (the parent of this connection's backend) and the server's version.
    connection = await asyncpg.connect(url, timeout=10)
    try:
        backend = int(await connection.fetchval("SELECT pg_backend_pid()"))
        server_version = str(await connection.fetchval("SHOW server_version"))
        return parent_pid(backend), server_version
    finally:
        await connection.close()


async def _vacuum_analyze(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE books")
    finally:
        await connection.close()


def evaluate(runs: Sequence[SizeRun]) -> list[Target]:
    """The issue's targets, per database: the largest catalog measured against the smallest."""
    targets: list[Target] = []
    for database in dict.fromkeys(run.database for run in runs):
        mine = sorted((run for run in runs if run.database == database), key=lambda run: run.books)
        name = NAMES[database]
        small, large = mine[0], mine[-1]
        sizes = f"{large.books:,} vs {small.books:,} books"
        if large.books > small.books:
            for page in (SHOP_PAGE, SEARCH, BOOK_PAGE):
                before, after = small.page(page), large.page(page)
                if before is None or after is None or not before.cpu_ms:
                    continue
                ratio = after.cpu_ms / before.cpu_ms
                also = ""
                if before.database_cpu_ms is not None and after.database_cpu_ms is not None:
                    also = f"; PostgreSQL {after.database_cpu_ms:.2f}"
                    also += f" vs {before.database_cpu_ms:.2f}"
                targets.append(
                    Target(
                        f"{name}: {page} CPU/req, {sizes}",
                        f"{after.cpu_ms:.2f} vs {before.cpu_ms:.2f} ms ({ratio:.2f}x){also}",
                        f"<= {CPU_RATIO}x",
                        ratio <= CPU_RATIO,
                    )
                )
            growth = large.worker_peak_mb - small.worker_peak_mb
            targets.append(
                Target(
                    f"{name}: worker peak memory, {sizes}",
                    f"{large.worker_peak_mb:.0f} vs {small.worker_peak_mb:.0f} MB ({growth:+.0f})",
                    f"<= +{MEMORY_GROWTH_MB} MB",
                    growth <= MEMORY_GROWTH_MB,
                )
            )
        searches = [(run.books, run.page(ONE_SEARCH)) for run in mine]
        measured = [(books, row) for books, row in searches if row is not None]
        if measured:
            books, worst = max(measured, key=lambda item: item[1].median.p99_ms)
            targets.append(
                Target(
                    f"{name}: search p99, one at a time (worst size)",
                    f"{worst.median.p99_ms:.1f} ms at {books:,} books",
                    f"< {SEARCH_P99_MS} ms",
                    worst.median.p99_ms < SEARCH_P99_MS,
                )
            )
        targets.append(
            Target(
                f"{name}: import of {large.books:,} rows",
                f"{large.import_s:.1f} s ({large.import_cpu_s:.1f} s CPU)",
                f"< {IMPORT_S} s",
                large.import_s < IMPORT_S,
            )
        )
        errors = sum(row.median.errors for run in mine for row in run.pages)
        failed = sum(window.errors for run in mine for row in run.pages for window in row.windows)
        targets.append(
            Target(
                f"{name}: answers other than 200",
                str(failed),
                "0",
                failed == 0 and errors == 0,
            )
        )
    return targets


def table(result: CatalogResult) -> str:
    """The results as Markdown tables (what docs/performance.md shows)."""
    lines = [
        "| database | books | page | c | URLs (est. queried) | books shown | req/s | p50 ms "
        "| p99 ms | errors | CPU ms/req | PostgreSQL CPU ms/req |",
        "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result.runs:
        for row in run.pages:
            median = row.median
            urls = f"{row.urls} ({row.queried:.0%})"
            database_cpu = "" if row.database_cpu_ms is None else f"{row.database_cpu_ms:.2f}"
            lines.append(
                f"| {NAMES[row.database]} | {row.books:,} | {row.page} | {row.concurrency} "
                f"| {urls} | {row.shown:.1f} "
                f"| {median.rps:.0f} | {median.p50_ms:.1f} | {median.p99_ms:.1f} | {median.errors} "
                f"| {row.cpu_ms:.2f} | {database_cpu} |"
            )
    lines += [
        "",
        "| database | books | import s (CPU s) | worker peak MB | worker resident MB | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result.runs:
        imported = f"{run.import_s:.1f} ({run.import_cpu_s:.1f})"
        lines.append(
            f"| {NAMES[run.database]} | {run.books:,} | {imported} "
            f"| {run.worker_peak_mb:.0f} | {run.worker_resident_mb:.0f} "
            f"| {run.load_average[0]:.1f} |"
        )
    for database, reason in result.skipped.items():
        lines += ["", f"{NAMES[database]} skipped: {reason}"]
    lines += ["", *targets_table(result.targets)]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """The versions that produced the numbers (the databases' are added as they start)."""
    found = {"python": platform.python_version()}
    for package in ("quart", "hypercorn", "sqlalchemy", "aiosqlite", "asyncpg", "jinja2"):
        found[package] = version(package)
    return found


def run(options: CatalogOptions, log: Callable[[str], None]) -> CatalogResult:
    """Every size on every database; raises RuntimeError or load.LoadError when it cannot run
    (after printing the end of the shop's log)."""
    with tempfile.TemporaryDirectory(prefix="bookshop-catalog-bench-") as folder:
        bench = CatalogBench(options, Path(folder), log)
        try:
            bench.run()
        except (RuntimeError, load.LoadError, OSError, subprocess.SubprocessError):
            for server in (bench.sandbox, bench.shop):
                if server is not None and server.log_path and server.log_path.exists():
                    log(f"--- last lines of the {server.name} log ---")
                    log("\n".join(server.log_path.read_text(errors="replace").splitlines()[-15:]))
            raise
    result = CatalogResult(bench.runs, bench.skipped, {**versions(), **bench.versions})
    result.targets = evaluate(result.runs)
    return result


def as_json(result: CatalogResult, options: CatalogOptions) -> dict[str, Any]:
    """The catalog part of a run's JSON."""
    return {
        "options": {**asdict(options), "out": str(options.out)},
        "versions": result.versions,
        "runs": [asdict(run) for run in result.runs],
        "skipped": result.skipped,
        "targets": [asdict(target) for target in result.targets],
        "table": table(result),
    }


def summary(result: CatalogResult) -> str:
    """The line under the table: targets met."""
    missed = [target.name for target in result.targets if not target.met]
    return f"Catalog targets: {len(result.targets) - len(missed)} of {len(result.targets)} met" + (
        f" (missed: {'; '.join(missed)})" if missed else ""
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the catalog sizes alone; print the table; write the JSON. Exit 1 only when it could
    not run."""
    options = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        wrk = load.wrk_version()
    except load.LoadError as error:
        log(f"catalog: {error}")
        return 1
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    try:
        result = run(options, log)
    except (RuntimeError, load.LoadError, OSError, subprocess.SubprocessError) as error:
        log(f"catalog: {error}")
        return 1
    result.versions["wrk"] = wrk
    command = "python -m tests.perf.catalog " + " ".join(sys.argv[1:] if argv is None else argv)
    path = save(
        options.out,
        started,
        {
            "started": started.isoformat(timespec="seconds"),
            "command": command.strip(),
            "commit": commit(),
            "machine": machine(load_before),
            "catalog": as_json(result, options),
        },
    )
    print(table(result))
    print()
    print(
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after; "
        + ", ".join(f"{name} {value}" for name, value in result.versions.items())
    )
    print(summary(result))
    print(f"Written to {shown(path)}")
    return 0


def commit() -> str:
    """The checkout's commit, with `+` when files differ from it."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    return head + ("+" if head and git("status", "--porcelain", "--untracked-files=no") else "")


if __name__ == "__main__":
    sys.exit(main())
