"""`python -m bookshop.sandbox` as a process: served by Hypercorn, stopped cleanly by a signal, its
stored objects kept out of the garbage collector's way."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypercorn.config import Config

from bookshop.sandbox.__main__ import keep_stored_objects_out_of_gc, server_config
from bookshop.sandbox.app import create_sandbox_app
from bookshop.sandbox.settings import DEFAULT_SECRET_KEY, SandboxSettings
from tests.fixtures.sandbox import free_port

REPO_ROOT = Path(__file__).parents[2]


def test_the_sandbox_is_served_by_hypercorn_on_its_own_socket_with_a_short_stop() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        config = server_config(listener)
        assert isinstance(config, Config)
        assert config.create_sockets().insecure_sockets == [listener]
    assert config.graceful_timeout == 2
    assert config.accesslog is None
    assert not config.include_server_header


def start(port: int, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """`python -m bookshop.sandbox` on `port` (with any other `options`), logging to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bookshop.sandbox", "--port", str(port), *options],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait (15 s at most) until the sandbox on `port` answers its health check."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).is_success:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("the sandbox did not start")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_sandbox_with_status_0_and_frees_its_port(
    stop: signal.Signals, tmp_path: Path
) -> None:
    port = free_port()
    process = start(port, tmp_path / "sandbox.log")
    try:
        wait_healthy(port, process)
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free again
    log = (tmp_path / "sandbox.log").read_text()
    assert "Traceback" not in log


def test_ctrl_c_pressed_twice_still_stops_the_sandbox_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = start(port, tmp_path / "sandbox.log")
    try:
        wait_healthy(port, process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    log = (tmp_path / "sandbox.log").read_text()
    assert "Traceback" not in log


def test_a_taken_port_stops_the_sandbox_with_one_line_and_status_1(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process = start(port, tmp_path / "sandbox.log")
        assert process.wait(timeout=15) == 1
    log = (tmp_path / "sandbox.log").read_text()
    assert f"cannot listen on 127.0.0.1:{port}: " in log
    assert "Address already in use" in log
    assert "Traceback" not in log


def collector_sees(obj: object) -> bool:
    return any(seen is obj for seen in gc.get_objects())


async def test_what_the_served_sandbox_stores_leaves_the_collectors_sight_within_seconds() -> None:
    app = create_sandbox_app(SandboxSettings())
    keep_stored_objects_out_of_gc(app, every_s=0.05)
    try:
        async with app.test_app() as served:
            response = await served.test_client().post(
                "/v1/payment_intents",
                form={"amount": "2300", "currency": "sgd"},
                headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"},
            )
            assert response.status_code == 200
            intent_id = (await response.get_json())["id"]
            stored = app.extensions["sandbox"].store.payment_intents.by_id[intent_id]
            assert collector_sees(stored)
            await asyncio.sleep(0.3)
            # Frozen: a full collection no longer walks it, and the sandbox still serves it.
            assert not collector_sees(stored)
            again = await served.test_client().get(
                f"/v1/payment_intents/{intent_id}",
                headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"},
            )
            assert (await again.get_json())["amount"] == 2300
    finally:
        gc.unfreeze()
