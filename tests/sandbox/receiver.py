"""A tiny webhook receiver on a free loopback port, run in a thread by the test that needs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    """One POST the receiver got."""

    body: bytes
    headers: dict[str, str]
    status: int


@dataclass
class Receiver:
    """Records deliveries; answers 500 to the first `fail_first` of them."""

    url: str = ""
    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Delivery]:
        """Deliveries answered 2xx."""
        with self.lock:
            return [d for d in self.deliveries if d.status == 200]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[Delivery]:
        """Poll until `predicate(accepted deliveries)` holds, or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            accepted = self.accepted()
            if predicate(accepted):
                return accepted
            time.sleep(0.05)
        raise AssertionError(f"webhooks not delivered in {timeout} s: {len(self.deliveries)} tries")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                failing = len(receiver.deliveries) < receiver.fail_first
                status = 500 if failing else 200
                receiver.deliveries.append(Delivery(body, dict(self.headers.items()), status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_receiver(fail_first: int = 0, port: int = 0) -> Iterator[Receiver]:
    """Serve a Receiver on 127.0.0.1 until the block ends."""
    receiver = Receiver(fail_first=fail_first)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
