"""Behind a proxy: X-Forwarded-For and X-Forwarded-Proto are believed from the trusted proxies
named in SHOP_TRUSTED_PROXIES, and from no one else."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator

import pytest
from quart import Quart, request

from bookshop import create_app
from bookshop.config import Settings
from bookshop.security import policy

PROXY = "10.0.0.1"
HSTS = "Strict-Transport-Security"


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[Quart]:
    """The shop trusting the proxies on 10.0.0.0/8, with a page that says who asked, and how."""
    trusting = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    app = create_app(trusting)

    @app.get("/who")
    @policy()
    async def who() -> str:
        return f"{request.remote_addr} {request.scheme}"

    async with app.test_app() as started:
        yield started.app  # type: ignore[misc]


async def ask(app: Quart, peer: str, path: str = "/who", **headers: str) -> tuple[str, bool]:
    response = await app.test_client().get(
        path,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
        scope_base={"client": (peer, 40000)},
    )
    return await response.get_data(as_text=True), HSTS in response.headers


async def test_a_trusted_proxy_names_the_shopper_and_the_scheme(behind_proxy: Quart) -> None:
    answer = await ask(
        behind_proxy, PROXY, X_Forwarded_For="203.0.113.7", X_Forwarded_Proto="https"
    )
    assert answer == ("203.0.113.7 https", True)


async def test_the_health_check_behind_a_trusted_tls_proxy_sends_hsts(behind_proxy: Quart) -> None:
    _, hsts = await ask(behind_proxy, PROXY, "/healthz", X_Forwarded_Proto="https")
    assert hsts


async def test_anyone_else_forging_the_headers_changes_nothing(behind_proxy: Quart) -> None:
    answer = await ask(
        behind_proxy, "198.51.100.9", X_Forwarded_For="10.0.0.2", X_Forwarded_Proto="https"
    )
    assert answer == ("198.51.100.9 http", False)


async def test_through_a_chain_the_nearest_untrusted_hop_is_the_shopper(
    behind_proxy: Quart,
) -> None:
    # The shopper wrote the first entry themselves; the proxies appended the rest.
    forged_then_real = "6.6.6.6, 203.0.113.7, 10.0.0.9"
    answer = await ask(behind_proxy, PROXY, X_Forwarded_For=forged_then_real)
    assert answer == ("203.0.113.7 http", False)


@pytest.mark.parametrize("header", ["unknown", "", "203.0.113.7, not-an-address"])
async def test_a_header_naming_no_address_leaves_the_proxy_as_the_client(
    behind_proxy: Quart, header: str
) -> None:
    answer, _ = await ask(behind_proxy, PROXY, X_Forwarded_For=header, X_Forwarded_Proto="gopher")
    assert answer == f"{PROXY} http"


async def test_with_no_trusted_proxy_no_one_is_believed(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/who")
    @policy()
    async def who() -> str:
        return f"{request.remote_addr} {request.scheme}"

    async with app.test_app() as started:
        answer = await ask(
            started.app,  # type: ignore[arg-type]
            "127.0.0.1",
            X_Forwarded_For="203.0.113.7",
            X_Forwarded_Proto="https",
        )
    assert answer == ("127.0.0.1 http", False)
