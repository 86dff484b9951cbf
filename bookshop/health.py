"""The health check (`GET /healthz`), answered in front of the app.

A load balancer asks every few seconds whether a worker is alive. Answered here, before Quart, the
answer measures what it should (is the worker's event loop turning?) and costs next to nothing: no
request context, session, template or task of its own, so it never waits behind the turns of the
event loop a checkout takes (docs/performance.md, "The health check in front").
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

PATH = "/healthz"
ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
OK = json.dumps({"status": "ok"}).encode()
NOT_ALLOWED = json.dumps({"error": "Use GET or HEAD."}).encode()


class HealthCheck:
    """ASGI middleware: `GET /healthz` (and HEAD) answered here; everything else goes to the app."""

    def __init__(self, app: ASGIApp, headers: Callable[[bool], Mapping[str, str]]) -> None:
        """`headers(https)`: the headers every response of the shop carries."""
        self.app = app
        self._headers = {https: _encoded(headers(https)) for https in (False, True)}

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status, body = (200, OK) if method in ("GET", "HEAD") else (405, NOT_ALLOWED)
        headers = [*self._headers[scope["scheme"] == "https"]]
        headers.append((b"content-length", str(len(body)).encode()))
        if status == 405:
            headers.append((b"allow", b"GET, HEAD"))
        if method == "HEAD":
            body = b""
        await send(
            {"type": "http.response.start", "status": status, "headers": headers, "trailers": False}
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    every = {**headers, "Content-Type": "application/json", "Cache-Control": "no-store"}
    return [(name.lower().encode(), value.encode()) for name, value in every.items()]
