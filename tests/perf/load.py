"""Load from its own process: wrk (C, one thread), light enough to share 2 cores with the shop."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("report.lua")
PAY_SCRIPT = Path(__file__).with_name("pay.lua")
MARKER = "BENCH_JSON "


class LoadError(RuntimeError):
    """wrk is missing or did not report."""


@dataclass(frozen=True)
class LoadResult:
    """One measured window: throughput, latency percentiles (ms) and failed requests."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    # The pay step's answers that were the receipt (a 200 with `data-outcome="succeeded"`).
    paid: int = 0

    @property
    def paid_per_second(self) -> float:
        """Paid orders a second (the pay step)."""
        return round(self.paid / self.seconds, 1) if self.seconds else 0.0

    @classmethod
    def from_report(cls, report: Mapping[str, object]) -> LoadResult:
        """Build from the JSON line that report.lua prints."""
        latency = report["latency_us"]
        errors = report["errors"]
        assert isinstance(latency, dict) and isinstance(errors, dict)
        requests = int(str(report["requests"]))
        seconds = int(str(report["duration_us"])) / 1e6
        return cls(
            requests=requests,
            seconds=round(seconds, 2),
            rps=round(requests / seconds, 1) if seconds else 0.0,
            p50_ms=latency["p50"] / 1000,
            p95_ms=latency["p95"] / 1000,
            p99_ms=latency["p99"] / 1000,
            max_ms=latency["max"] / 1000,
            # Non-2xx/3xx answers, timeouts and socket errors all count: a shopper saw a failure.
            errors=sum(int(value) for value in errors.values()),
            paid=int(str(report.get("paid", 0))),
        )


def median(results: Sequence[LoadResult]) -> LoadResult:
    """Each metric's median over several windows (quoted, as the machine is shared and noisy)."""

    def middle(name: str) -> float:
        return round(float(statistics.median(getattr(result, name) for result in results)), 2)

    return LoadResult(
        requests=int(middle("requests")),
        seconds=middle("seconds"),
        rps=middle("rps"),
        p50_ms=middle("p50_ms"),
        p95_ms=middle("p95_ms"),
        p99_ms=middle("p99_ms"),
        max_ms=middle("max_ms"),
        errors=int(middle("errors")),
        paid=int(middle("paid")),
    )


def wrk_version() -> str:
    """wrk's version line, or a LoadError saying how to install it."""
    if shutil.which("wrk") is None:
        raise LoadError("wrk is not installed: apt-get install wrk (make bench does this as root)")
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout + completed.stderr).splitlines()[0].strip()


def wrk_command(
    url: str,
    concurrency: int,
    seconds: int,
    headers: Mapping[str, str] | None = None,
    max_requests: int = 0,
    pause_ms: int = 0,
    timeout_s: float = 5,
    paths: Path | None = None,
    only_2xx: bool = False,
) -> list[str]:
    """The wrk command line for one window: `url`, or the paths listed in the file `paths` (on
    `url`'s server) in turn; with `only_2xx`, any answer but a 2xx counts as an error."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={timeout_s:g}s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    arguments = [str(max_requests), str(pause_ms)]
    if paths is not None or only_2xx:
        arguments += [str(paths) if paths is not None else "-", "1" if only_2xx else "0"]
    return [*command, "-s", str(SCRIPT), url, "--", *arguments]


def pay_command(
    url: str,
    concurrency: int,
    seconds: int,
    headers: Mapping[str, str],
    tokens: Path,
    form: str,
    timeout_s: float = 5,
) -> list[str]:
    """The wrk command line for a window of the pay step: POSTs of `form` (URL-encoded), each
    with the next ConfirmationToken listed in the file `tokens`, until the time or tokens end."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={timeout_s:g}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return [*command, "-s", str(PAY_SCRIPT), url, "--", str(tokens), form]


def start(command: Sequence[str]) -> subprocess.Popen[str]:
    """Start wrk without waiting (to overlap two loads)."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], grace_s: float) -> LoadResult:
    """Wait for a wrk started with start() and parse its report."""
    try:
        stdout, stderr = process.communicate(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise LoadError("wrk did not finish in time") from None
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            return LoadResult.from_report(json.loads(line[len(MARKER) :]))
    raise LoadError(f"wrk gave no report: {stderr.strip() or stdout.strip()}")


def run(command: Sequence[str], seconds: int) -> LoadResult:
    """Run one wrk window to the end."""
    return finish(start(command), grace_s=seconds + 30)
