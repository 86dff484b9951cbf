"""Injected latency and failures for `/v1/*`, applied as ASGI middleware before Quart runs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

from bookshop.sandbox import errors, objects
from bookshop.sandbox.settings import FAIL_MODES

Scope = dict[str, Any]
Receive = Any
Send = Any
ASGIApp = Any

log = logging.getLogger("bookshop.sandbox.faults")


@dataclass
class Faults:
    """What to inject; changeable while the sandbox runs."""

    latency_ms: int = 0
    fail_rate: float = 0.0
    fail_mode: str = "error"

    def update(self, latency_ms: Any = None, fail_rate: Any = None, fail_mode: Any = None) -> None:
        """Validate and apply new values (None keeps the current one)."""
        new_latency = self.latency_ms if latency_ms is None else int(latency_ms)
        new_rate = self.fail_rate if fail_rate is None else float(fail_rate)
        new_mode = self.fail_mode if fail_mode is None else str(fail_mode)
        if new_latency < 0 or not 0.0 <= new_rate <= 1.0 or new_mode not in FAIL_MODES:
            raise ValueError("latency_ms >= 0, 0 <= fail_rate <= 1, fail_mode in error|drop")
        self.latency_ms, self.fail_rate, self.fail_mode = new_latency, new_rate, new_mode

    def as_dict(self) -> dict[str, Any]:
        """JSON for GET /_sandbox/faults."""
        return {
            "latency_ms": self.latency_ms,
            "fail_rate": self.fail_rate,
            "fail_mode": self.fail_mode,
        }


class FaultMiddleware:
    """Delays and fails API calls without Quart seeing them."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults
        # Not for security: only chooses which calls fail.
        self._random = random.Random()  # noqa: S311

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if (
            scope["type"] != "http"
            or not scope["path"].startswith("/v1/")
            or scope["method"] == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.fail_rate and self._random.random() < faults.fail_rate:
            await _drain(receive)
            if faults.fail_mode == "drop":
                await _drop(send)
            else:
                await _api_error(send)
            return
        await self.app(scope, receive, send)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _drop(send: Send) -> None:
    # A bare `100 Continue` starts a response that never gets its final status; when the app
    # then returns, Hypercorn closes the socket, so the client sees the connection drop before
    # any status line (RemoteDisconnected -> stripe.APIConnectionError).
    log.warning("injected fault: dropping the connection")
    await send({"type": "http.response.start", "status": 100, "headers": []})


async def _api_error(send: Send) -> None:
    request_id = objects.new_id("req", 14)
    body = json.dumps(errors.api_error().body(request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"request-id", request_id.encode()),
                (b"access-control-allow-origin", b"*"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
