"""`python -m bookshop.sandbox` as a process: served by Uvicorn, stopped cleanly by a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bookshop.sandbox.__main__ import server
from bookshop.sandbox.settings import SandboxSettings
from tests.fixtures.sandbox import free_port

REPO_ROOT = Path(__file__).parents[2]


def test_the_sandbox_parses_http_with_httptools() -> None:
    config = server(SandboxSettings()).config
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol


def start(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bookshop.sandbox", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
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


def test_a_taken_port_stops_the_sandbox_with_one_line_and_status_1(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process = start(port, tmp_path / "sandbox.log")
        assert process.wait(timeout=15) == 1
    log = (tmp_path / "sandbox.log").read_text()
    assert f"cannot listen on 127.0.0.1:{port}: " in log
    assert "Address already in use" in log
    assert "Traceback" not in log
