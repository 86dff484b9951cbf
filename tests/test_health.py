"""The health check, answered in front of the app."""

from __future__ import annotations

from quart import Quart

from bookshop.config import Settings
from bookshop.security import security_headers
from tests.fixtures.app import Client


async def test_healthz_answers_ok_with_the_shops_security_headers(
    client: Client, settings: Settings
) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    for name, value in security_headers(settings, https=False).items():
        assert response.headers[name] == value
    assert "Strict-Transport-Security" not in response.headers
    assert "Set-Cookie" not in response.headers


async def test_healthz_over_https_carries_hsts(client: Client) -> None:
    response = await client.get("/healthz", scheme="https")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_healthz_is_answered_before_the_app_runs_a_request(
    app: Quart, client: Client
) -> None:
    seen: list[str] = []

    @app.before_request
    async def record() -> None:
        seen.append("request")

    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/")).status_code == 200
    # No request context, request id, session or template for the probe; the shop page had them.
    assert seen == ["request"]


async def test_healthz_head_has_no_body(client: Client) -> None:
    response = await client.head("/healthz")
    assert response.status_code == 200
    assert await response.get_data() == b""


async def test_healthz_refuses_other_methods_with_405_and_allow(client: Client) -> None:
    response = await client.post("/healthz")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert (await response.get_json())["error"]


async def test_other_paths_still_reach_the_shop(client: Client) -> None:
    assert (await client.get("/healthz/")).status_code == 404
    response = await client.get("/")
    assert response.status_code == 200
    assert "X-Request-Id" in response.headers
