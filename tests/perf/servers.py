"""The processes under test: started on free loopback ports, measured, and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bookshop.sandbox.settings import DEFAULT_PORT, DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_port() -> int:
    """A free port that is not the default one (which makes `python -m bookshop` start its own)."""
    while (port := free_port()) == DEFAULT_PORT:
        pass
    return port


def shop_environment(
    *,
    port: int,
    workers: int,
    sandbox_url: str,
    database_url: str,
    secret_key: str,
    catalog_seed: Path,
) -> dict[str, str]:
    """Production settings against a benchmark's sandbox (so the shop starts none of its own),
    on `database_url`, whose empty catalog is filled from `catalog_seed` as the shop starts."""
    return {
        "SHOP_ENV": "production",
        "SHOP_SECRET_KEY": secret_key,
        "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY,
        "STRIPE_API_BASE": sandbox_url,
        # Production builds absolute URLs on it (required); the benchmark itself speaks http.
        "SHOP_PUBLIC_URL": "https://bookshop.bench.invalid",
        # Production needs a mail server; the benchmark pays no order, so none is reached.
        "SMTP_URL": "smtp://127.0.0.1:9",
        "MAIL_FROM": "orders@bookshop.bench.invalid",
        "SHOP_HOST": "127.0.0.1",
        "SHOP_PORT": str(port),
        "SHOP_WORKERS": str(workers),
        # The benchmark is one client hammering the shop: rate limiting would be all it measured.
        "SHOP_RATE_LIMITS": "off",
        "DATABASE_URL": database_url,
        "SHOP_CATALOG_SEED": str(catalog_seed),
    }


@dataclass(frozen=True)
class ProcessMemory:
    """One process of a server's tree: its peak resident memory (VmHWM) and its resident memory
    when read (VmRSS)."""

    pid: int
    role: str
    peak_mb: float
    resident_mb: float = 0.0


@dataclass
class Server:
    """A Python server run as `python -m <module>` in its own process group."""

    name: str
    module: str
    port: int
    health_path: str
    args: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    # The process's nice value (set, not added): above the others', it yields the cores to them.
    nice: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        """Start the process and wait until its health URL answers 200."""
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so stopping it also stops the Hypercorn workers it spawned.
            # Not its own session: Linux puts each session in a scheduling group of its own
            # ("autogroup"), which shares the CPU equally with the others and hides the nice
            # values inside it, so the sandbox's lower priority would not count against the shop.
            process_group=0,
        )
        if self.nice:
            # Before it starts any thread: threads take their nice value from their creator.
            os.setpriority(os.PRIO_PROCESS, self.process.pid, self.nice)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer at {self.url} in {timeout:.0f} s")

    def memory(self) -> list[ProcessMemory]:
        """Peak memory of the server's process and of every descendant still running."""
        if self.process is None:
            return []
        return [
            ProcessMemory(
                pid,
                _role(pid, self.process.pid),
                _memory_mb(pid, "VmHWM"),
                _memory_mb(pid, "VmRSS"),
            )
            for pid in process_tree(self.process.pid)
        ]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's process and its descendants."""
        if self.process is None:
            return 0.0
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """Stop the whole process group: politely first, then for sure."""
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Workers left behind by a master that died first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def process_tree(root: int) -> list[int]:
    """`root` and every process below it, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, queue = [root], [root]
    while queue:
        parent = queue.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        queue.extend(children)
    return found


def tree_cpu_seconds(root: int, reaped: bool = False) -> float:
    """CPU time (user + system) used so far by `root` and every process below it; with `reaped`,
    also by `root`'s children that have exited (a server with a process per connection)."""
    used = sum(_cpu_seconds(pid) for pid in process_tree(root))
    return used + (_cpu_seconds(root, children=True) if reaped else 0.0)


def parent_pid(pid: int) -> int:
    """The parent of a running process (from /proc)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "main"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if "resource_tracker" in command:
        return "resource tracker"
    if "spawn_main" in command:
        return "worker"
    return command.strip()[:40]


def _cpu_seconds(pid: int, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, fields 14 and 15 of stat(5), counted from the state field (3); with
    # `children`, cutime and cstime (16 and 17): its children's, once exited and waited for.
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / TICKS


def _memory_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
