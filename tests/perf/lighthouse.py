"""`make lighthouse`: Lighthouse's mobile audit of the shop, a book, the cart and its checkout.

Starts the shop and its sandbox as `make run` does (`tests/e2e/servers.py`), fills a cart through
the shop's own form (so the cart and checkout have something to show), runs Lighthouse from
`tools/lighthouse/` on Debian's Chromium against each page a few times, writes the median run's
scores and metrics to docs/lighthouse.md (the JSON reports to lighthouse-results/, git-ignored),
and stops everything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx

from tests.e2e.servers import REPO_ROOT, RunningShop, running_shop
from tests.fixtures.app import SINGAPORE
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS

LIGHTHOUSE = REPO_ROOT / "tools" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
REPORT = REPO_ROOT / "docs" / "lighthouse.md"
RESULTS = REPO_ROOT / "lighthouse-results"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# (label, path, needs the cart): the pages a shopper from a search engine goes through.
PAGES = (
    ("Shop", "/", False),
    ("Book", "/books/art-of-doing-science", False),
    ("Cart", "/cart", True),
    ("Checkout", "/checkout", True),
)
CART = ("art-of-doing-science", "mythical-man-month")
METRICS = (
    ("FCP", "first-contentful-paint", "ms"),
    ("LCP", "largest-contentful-paint", "ms"),
    ("TBT", "total-blocking-time", "ms"),
    ("CLS", "cumulative-layout-shift", ""),
    ("Speed Index", "speed-index", "ms"),
    ("Transfer", "total-byte-weight", "bytes"),
)
RUN_TIMEOUT_S = 180
# The targets: every score 100; on the shop page LCP <= 1.5 s and <= 80 KB transferred.
TARGET_LCP_MS = 1500
TARGET_TRANSFER_BYTES = 80 * 1024


@dataclass
class Run:
    """One Lighthouse run of one page: its report's scores, metrics and what fell short."""

    scores: dict[str, int]
    metrics: dict[str, float]
    shortfalls: list[str]
    environment: dict[str, str]
    lcp_element: str


def fill_cart(shop: RunningShop) -> str:
    """Add the cart's books and say where they go, through the shop's own forms; the session
    cookie that holds them."""
    with httpx.Client(base_url=shop.url, timeout=10) as http:
        page = http.get("/cart").text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
        if token is None:
            raise SystemExit("lighthouse: the cart page carries no CSRF token")
        for book in CART:
            added = http.post("/cart/add", data={"book_id": book, "csrf_token": token[1]})
            if added.status_code != 303:
                raise SystemExit(f"lighthouse: adding {book} to the cart: {added.status_code}")
        given = http.post("/checkout/address", data={**SINGAPORE, "csrf_token": token[1]})
        if given.status_code != 303:
            raise SystemExit(f"lighthouse: giving the address: {given.status_code}")
        return f"session={http.cookies['session']}"


def lighthouse(url: str, cookie: str | None, output: Path) -> Run:
    """Run Lighthouse once (mobile preset, simulated slow 4G) and read its JSON report."""
    command = [
        str(LIGHTHOUSE),
        url,
        f"--only-categories={','.join(CATEGORIES)}",
        "--output=json",
        f"--output-path={output}",
        f"--chrome-flags={' '.join(['--headless=new', *CHROMIUM_ARGS])}",
        "--quiet",
    ]
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    subprocess.run(command, env=env, check=True, timeout=RUN_TIMEOUT_S)
    return read_report(json.loads(output.read_text(encoding="utf-8")))


def read_report(report: dict[str, Any]) -> Run:
    """Scores (0-100), metrics and the audits that cost points, from a Lighthouse report."""
    audits = report["audits"]
    scores = {}
    shortfalls = []
    for name in CATEGORIES:
        category = report["categories"][name]
        scores[name] = round(category["score"] * 100)
        for ref in category["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
                shortfalls.append(f"{name}: {audit['title']} ({audit['score']:.2f})")
    metrics = {key: float(audits[key]["numericValue"]) for _, key, _ in METRICS}
    lcp_items = audits["largest-contentful-paint-element"].get("details", {}).get("items", [])
    lcp_node = lcp_items[0]["items"][0]["node"] if lcp_items and lcp_items[0].get("items") else {}
    environment = {
        "lighthouse": report["lighthouseVersion"],
        "browser": report["environment"]["hostUserAgent"],
        "benchmark": str(report["environment"].get("benchmarkIndex", "")),
    }
    return Run(scores, metrics, shortfalls, environment, lcp_node.get("selector", "?"))


def median_run(runs: list[Run]) -> Run:
    """The run whose performance score and LCP are the median (Lighthouse's own advice)."""
    ranked = sorted(
        runs, key=lambda run: (run.scores["performance"], -run.metrics["largest-contentful-paint"])
    )
    return ranked[(len(ranked) - 1) // 2]


def shown(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value / 1000:.2f} s"
    if unit == "bytes":
        return f"{value / 1024:.1f} KB"
    return f"{value:.3f}"


def write_report(results: dict[str, tuple[str, list[Run]]], runs: int) -> str:
    """docs/lighthouse.md: the median run of each page, the targets, and what was run."""
    first = next(iter(results.values()))[1][0]
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = (
        " (with uncommitted changes)"
        if _git("status", "--porcelain", "--", "bookshop", "templates", "static")
        else ""
    )
    lines = [
        "# Lighthouse",
        "",
        "Written by `make lighthouse` (`tests/perf/lighthouse.py`); do not edit by hand. Mobile",
        "preset (Moto G Power, simulated slow 4G: 150 ms RTT, 1.6 Mbps, 4x CPU slowdown), the shop",
        "started as `make run` starts it (sandbox mode, one worker), first visit (cold cache). The",
        f"cart holds {len(CART)} books going to Singapore, given through the shop's forms. Each",
        f"page ran {runs} time(s); the table shows the run with the median performance score",
        "(then LCP).",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit `{commit}`{dirty}",
        f"- Lighthouse {first.environment['lighthouse']} (the newest that runs on Node "
        f"{_node_major()}; 13 needs Node 22), Node {_version('node')}, "
        f"{_version(str(CHROMIUM)).split(' built on ')[0]} (Debian's), "
        f"CPU benchmark index {first.environment['benchmark']}",
        "",
        "| page | performance | accessibility | best practices | SEO | "
        + " | ".join(label for label, _, _ in METRICS)
        + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in METRICS) + " |",
    ]
    for label, (path, page_runs) in results.items():
        run = median_run(page_runs)
        cells = [str(run.scores[name]) for name in CATEGORIES]
        cells += [shown(run.metrics[key], unit) for _, key, unit in METRICS]
        lines.append(f"| {label} (`{path}`) | " + " | ".join(cells) + " |")
    shop = median_run(results["Shop"][1]) if "Shop" in results else first
    every_score = all(
        median_run(page_runs).scores[name] == 100
        for _, page_runs in results.values()
        for name in CATEGORIES
    )
    lcp, transfer = shop.metrics["largest-contentful-paint"], shop.metrics["total-byte-weight"]
    lines += [
        "",
        "Targets:",
        "",
        f"- Every score 100 on every page: {'met' if every_score else 'NOT met'}.",
        f"- Shop page LCP at most {TARGET_LCP_MS / 1000:.1f} s: {shown(lcp, 'ms')}, "
        f"{'met' if lcp <= TARGET_LCP_MS else 'NOT met'}.",
        f"- Shop page transfer at most {TARGET_TRANSFER_BYTES // 1024} KB: "
        f"{shown(transfer, 'bytes')}, {'met' if transfer <= TARGET_TRANSFER_BYTES else 'NOT met'}.",
    ]
    lines += ["", "The largest contentful paint (median run):", ""]
    lines += [
        f"- {label}: `{median_run(page_runs).lcp_element}`"
        for label, (_, page_runs) in results.items()
    ]
    if any("sandbox-banner" in median_run(r).lcp_element for _, r in results.values()):
        lines += [
            "",
            "In sandbox mode the largest paint is often the sandbox's banner, which a shop on",
            "Stripe's keys does not show; there it is the page's own first text or cover.",
        ]
    short = {
        label: sorted({item for run in page_runs for item in run.shortfalls})
        for label, (_, page_runs) in results.items()
    }
    if any(short.values()):
        lines += ["", "Audits that cost points in any run:", ""]
        for label, items in short.items():
            lines += [f"- {label}: {item}" for item in items]
    lines.append("")
    return "\n".join(lines)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def _version(program: str) -> str:
    found = shutil.which(program) or program
    return (
        subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
        .stdout.strip()
        .lstrip("v")
    )


def _node_major() -> str:
    return _version("node").split(".")[0]


@click.command()
@click.option("--runs", default=3, show_default=True, help="Lighthouse runs per page.")
@click.option("--report", type=click.Path(path_type=Path), default=REPORT, show_default=True)
@click.option(
    "--page", "only", multiple=True, help="Only these pages (Shop, Book, Cart, Checkout)."
)
def main(runs: int, report: Path, only: tuple[str, ...]) -> None:
    """Audit the shop's main pages with Lighthouse (mobile) and write docs/lighthouse.md."""
    if not LIGHTHOUSE.exists():
        sys.exit("lighthouse: run it with `make lighthouse` (it installs Lighthouse first)")
    if not CHROMIUM.exists():
        sys.exit(f"lighthouse: {CHROMIUM} is missing: `make browser` or apt-get install chromium")
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, tuple[str, list[Run]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bookshop-lighthouse-") as workdir,
        running_shop(Path(workdir)) as shop,
    ):
        cookie = fill_cart(shop)
        for label, path, needs_cart in PAGES:
            if only and label not in only:
                continue
            page_runs = []
            for number in range(1, runs + 1):
                output = RESULTS / f"{label.lower()}-{number}.json"
                run = lighthouse(shop.url + path, cookie if needs_cart else None, output)
                page_runs.append(run)
                scores = " ".join(f"{name} {score}" for name, score in run.scores.items())
                click.echo(f"{label} run {number}: {scores}")
            results[label] = (path, page_runs)
    text = write_report(results, runs)
    report.write_text(text, encoding="utf-8")
    click.echo(text)


if __name__ == "__main__":
    main()
