"""How Hypercorn serves the shop: with several workers, each accepts a share of the connections."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bookshop import create_app
from bookshop.config import Settings
from bookshop.server import AccessLog, hypercorn_config
from tests.e2e.servers import REPO_ROOT, running_shop, shop_environment
from tests.fixtures.sandbox import free_port
from tests.perf.servers import process_tree

ESTABLISHED, LISTEN = "01", "0A"


def settings(workers: int) -> Settings:
    """Development settings on a free port, with this many workers."""
    return Settings(host="127.0.0.1", port=0, workers=workers)


def test_with_several_workers_the_supervisor_keeps_no_socket_and_workers_bind_their_own() -> None:
    config = hypercorn_config(settings(workers=2))
    sockets = config.create_sockets()
    assert (sockets.insecure_sockets, sockets.secure_sockets) == ([], [])
    # What a spawned worker receives: None, which makes Hypercorn bind the worker's own socket.
    assert pickle.loads(pickle.dumps(sockets)) is None


def test_a_single_worker_is_served_from_the_socket_bound_at_start() -> None:
    sockets = hypercorn_config(settings(workers=1)).create_sockets()
    try:
        assert len(sockets.insecure_sockets) == 1
    finally:
        for sock in sockets.insecure_sockets:
            sock.close()


def tcp_sockets(port: int, state: str) -> list[str]:
    """The inodes of the IPv4 TCP sockets on local `port` in `state`."""
    inodes = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            inodes.append(fields[9])
    return inodes


def wait_for_listeners(port: int, count: int, timeout: float = 30) -> None:
    """Until `count` sockets listen on `port` (the first worker answers before the others bind)."""
    deadline = time.monotonic() + timeout
    while len(tcp_sockets(port, LISTEN)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sockets listen on {port}"
        time.sleep(0.1)


def connections_by_process(root: int, port: int) -> Counter[int]:
    """How many established connections to `port` each process below `root` holds."""
    owner_of_inode: dict[str, int] = {}
    for pid in process_tree(root)[1:]:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owner_of_inode[target[8:-1]] = pid
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return Counter(
        owner_of_inode[inode] for inode in tcp_sockets(port, ESTABLISHED) if inode in owner_of_inode
    )


def test_two_workers_each_accept_a_share_of_a_burst_of_keep_alive_connections(
    tmp_path: Path,
) -> None:
    with running_shop(tmp_path, workers=2) as shop:
        port = int(shop.url.rsplit(":", 1)[1])
        wait_for_listeners(port, 2)
        # 32 connections opened at once, as a load balancer or a load generator opens them: with
        # one socket shared by the workers, the first to wake accepted them all.
        connections = [socket.socket() for _ in range(32)]
        try:
            for connection in connections:
                connection.setblocking(False)
                connection.connect_ex(("127.0.0.1", port))
            for connection in connections:
                connection.setblocking(True)
                connection.settimeout(10)
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n")
            for connection in connections:
                assert connection.recv(4096).startswith(b"HTTP/1.1 200")
            counts = connections_by_process(shop.pid, port)
        finally:
            for connection in connections:
                connection.close()
    assert sum(counts.values()) == 32
    # The kernel spreads them by a hash of each connection's ports: about half each.
    assert len(counts) == 2 and min(counts.values()) >= 6, counts


def test_a_taken_address_stops_the_shop_with_one_line_and_a_failing_status(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = shop_environment(
            port, free_port(), f"sqlite:///{tmp_path / 'shop.sqlite3'}", workers=2
        )
        # Real keys' shape, pointed at nothing: the shop must not start a sandbox for this.
        environment.update(
            STRIPE_SECRET_KEY="sk_test_unused",
            STRIPE_PUBLISHABLE_KEY="pk_test_unused",
            STRIPE_API_BASE="http://127.0.0.1:9",
        )
        result = subprocess.run(
            [sys.executable, "-m", "bookshop"],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"bookshop: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_run_on_uvloop() -> None:
    assert hypercorn_config(settings(workers=2)).worker_class == "uvloop"


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Collection as a test process has it, restored after the test froze anything."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def served_settings(tmp_path: Path, env: str) -> Settings:
    """A shop as served outside tests (`env`), with Stripe keys that reach nothing."""
    return Settings(
        env=env,
        secret_key="s" * 40,
        stripe_secret_key="sk_test_unused",
        stripe_publishable_key="pk_test_unused",
        stripe_api_base="http://127.0.0.1:9",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'orders.sqlite3'}",
    )


@pytest.mark.parametrize(("env", "frozen"), [("production", True), ("test", False)])
async def test_a_served_shop_leaves_its_start_up_objects_out_of_collection(
    unfrozen: None, tmp_path: Path, env: str, frozen: bool
) -> None:
    shop = create_app(served_settings(tmp_path, env))
    async with shop.test_app():
        assert (gc.get_freeze_count() > 0) is frozen


async def test_a_stopped_shop_has_ended_its_background_tasks_before_closing_the_database(
    unfrozen: None, tmp_path: Path
) -> None:
    shop = create_app(served_settings(tmp_path, "production"))
    async with shop.test_app():
        started = [shop.extensions["keeper"], shop.extensions["sender"]]

    # A task still cancelling when the database closes may wait for it forever, and a stopping
    # worker with it.
    assert all(task.done() for task in started)
    assert asyncio.all_tasks() == {asyncio.current_task()}


def test_the_access_line_has_client_time_request_status_size_and_duration_but_no_query() -> None:
    log = hypercorn_config(settings(workers=1)).log
    assert isinstance(log, AccessLog)
    scope: Any = {
        "type": "http",
        "method": "GET",
        "path": "/payment/status",
        "query_string": b"payment_intent=pi_1&payment_intent_client_secret=pi_1_secret_x",
        "http_version": "1.1",
        "client": ("127.0.0.1", 50123),
        "headers": [(b"user-agent", b"curl/8")],
    }
    response: Any = {"status": 200, "headers": [(b"content-length", b"512")]}
    atoms = log.atoms(scope, response, 0.0123)
    line = AccessLog.FORMAT % atoms
    assert re.fullmatch(
        r"127\.0\.0\.1:50123 \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET /payment/status 1\.1" 200 512 0\.012300s',
        line,
    ), line
    # Only what the line prints is built per request: no header, no environment variable.
    assert set(atoms) == set(re.findall(r"%\((\w+)\)s", AccessLog.FORMAT))


def test_the_access_line_marks_what_it_does_not_know_with_a_dash() -> None:
    log = hypercorn_config(settings(workers=1)).log
    scope: Any = {"type": "http", "method": "GET", "path": "/", "http_version": "1.1"}
    line = AccessLog.FORMAT % log.atoms(scope, None, 0.5)
    assert re.fullmatch(r'- \[[^]]+\] "GET / 1\.1" - - 0\.500000s', line), line
