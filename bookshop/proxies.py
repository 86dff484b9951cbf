"""Who the client is behind a reverse proxy: X-Forwarded-For and X-Forwarded-Proto, believed only
from the proxies SHOP_TRUSTED_PROXIES names."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from bookshop.config import Network
from bookshop.health import ASGIApp

FORWARDED_FOR = b"x-forwarded-for"
FORWARDED_PROTO = b"x-forwarded-proto"


class TrustedProxies:
    """ASGI middleware: a request from a trusted proxy takes its client address and scheme from
    the proxy's X-Forwarded-* headers; from anyone else the headers change nothing.

    The scope is changed in place so that Hypercorn's access log, which reads the same scope,
    names the shopper rather than the proxy. The Host header is never read here: URLs are built on
    SHOP_PUBLIC_URL.
    """

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if client and self._trusts(client[0]):
            forwarded_for: list[str] = []
            proto = None
            for name, value in scope["headers"]:
                if name == FORWARDED_FOR:
                    forwarded_for += value.decode("latin-1").split(",")
                elif name == FORWARDED_PROTO:
                    proto = value.decode("latin-1").split(",")[-1].strip().lower()
            address = self.client_address([hop.strip() for hop in forwarded_for])
            if address is not None:
                scope["client"] = (address, 0)
            if proto in ("http", "https"):
                scope["scheme"] = proto
        await self.app(scope, receive, send)

    def client_address(self, hops: list[str]) -> str | None:
        """The address a chain of proxies was forwarding for: the nearest hop that is not itself a
        trusted proxy (anything further left the client could have written). None when the
        header names no valid address."""
        chosen = None
        for hop in reversed(hops):
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                return chosen
            chosen = str(address)
            if not self._trusts(chosen):
                return chosen
        return chosen

    def _trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)
