"""Error pages: readable, with the right status, never a traceback."""

from __future__ import annotations

import logging

import pytest
from quart import Quart

from tests.fixtures.app import HTMX, Client
from tests.fixtures.live import alerted


async def test_unknown_route_is_a_styled_404_page(client: Client) -> None:
    response = await client.get("/no/such/page")
    body = await response.get_data(as_text=True)
    assert response.status_code == 404
    assert "We couldn&#39;t find that page" in body
    assert "<html" in body


async def test_unknown_route_for_htmx_is_a_fragment(client: Client) -> None:
    response = await client.get("/no/such/page", headers=HTMX)
    body = await response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<html" not in body and "Error 404" in body
    # Swapped into a page: said once, through the page's assertive region.
    assert 'role="alert"' not in body
    assert (alerted(body) or "").startswith("We couldn't find that page. The requested URL")


async def test_an_error_page_is_an_alert_of_its_own(client: Client) -> None:
    body = await (await client.get("/no/such/page")).get_data(as_text=True)
    assert '<div class="error-message alert alert-warning" role="alert">' in body
    assert alerted(body) is None


async def test_wrong_method_is_405(client: Client) -> None:
    response = await client.post("/")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


async def test_crash_shows_a_generic_page_and_logs_the_request_id(
    app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret internals")

    response = await app.test_client().get("/boom")
    body = await response.get_data(as_text=True)
    request_id = response.headers["X-Request-Id"]
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert request_id in body
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert any(record.levelno == logging.ERROR for record in caplog.records)
