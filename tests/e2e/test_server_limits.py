"""Limits Hypercorn enforces for the shop as `make run` serves it (no browser needed)."""

from __future__ import annotations

import httpx

from tests.e2e.servers import RunningShop


def test_oversize_headers_are_refused_before_the_app(shop: RunningShop) -> None:
    huge = {"X-Padding": "x" * 20_000}
    try:
        response = httpx.get(f"{shop.url}/", headers=huge, timeout=10)
    except httpx.RemoteProtocolError:
        return  # the server hung up on the request: refused
    assert response.status_code == 431


def test_ordinary_headers_are_served(shop: RunningShop) -> None:
    response = httpx.get(f"{shop.url}/", headers={"X-Padding": "x" * 2_000}, timeout=10)
    assert response.status_code == 200
