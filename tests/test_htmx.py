"""The htmx helper: which responses vary on its headers, and the pages' links, built once each."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from tests.fixtures.app import HTMX, Client, post

HTMX_HEADERS = {"hx-request", "hx-request-type", "hx-history-restore-request"}


def vary(headers: Any) -> set[str]:
    """The header names a response's Vary lists, lower-cased."""
    return {name.strip().lower() for name in headers.get("Vary", "").split(",") if name.strip()}


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/?q=code",
        "/checkout/code",
        "/nowhere",
        "/payment/status?payment_intent=pi_x&payment_intent_client_secret=pi_x_secret_y",
    ],
)
async def test_every_response_that_reads_htmx_headers_varies_on_each_of_them(
    client: Client, url: str, htmx: bool
) -> None:
    response = await client.get(url, headers=HTMX if htmx else {})
    assert vary(response.headers) >= HTMX_HEADERS, url


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_the_quantity_forms_answer_varies_on_the_htmx_headers(
    client: Client, htmx: bool
) -> None:
    # A 303 for a plain form, the summary for htmx: the same POST, told apart by HX-Request.
    response = await post(
        client, "/checkout/code/quantity", {"quantity": "2"}, HTMX if htmx else None
    )
    assert response.status_code == (200 if htmx else 303)
    assert vary(response.headers) >= HTMX_HEADERS


async def test_responses_that_never_read_htmx_headers_do_not_vary_on_them(client: Client) -> None:
    response = await client.get("/covers/code.svg")
    assert not HTMX_HEADERS & vary(response.headers)


@pytest.fixture
def url_builds(app: Quart, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The endpoints the app builds URLs for from now on."""
    built: list[str] = []
    build = app.url_for

    def counting(endpoint: str, **values: Any) -> str:
        built.append(endpoint)
        return build(endpoint, **values)

    monkeypatch.setattr(app, "url_for", counting)
    return built


async def test_a_pages_links_are_built_once_and_then_remembered(
    client: Client, url_builds: list[str]
) -> None:
    first = await client.get("/")
    assert first.status_code == 200
    assert "static" in url_builds
    assert "checkout.page" in url_builds
    url_builds.clear()
    again = await client.get("/")
    assert await again.get_data() == await first.get_data()
    assert url_builds == []


async def test_external_links_are_built_each_time(client: Client, url_builds: list[str]) -> None:
    for _ in range(2):
        page = await client.get("/checkout/art-of-doing-science")
        assert page.status_code == 200
        assert 'data-return-url="http://localhost/success"' in (await page.get_data(as_text=True))
    assert url_builds.count("checkout.success") == 2


async def test_links_follow_the_root_path_the_shop_is_served_under(client: Client) -> None:
    plain = await (await client.get("/")).get_data(as_text=True)
    prefixed = await (await client.get("/", root_path="/shop")).get_data(as_text=True)
    assert 'href="/static/css/shop.css"' in plain
    assert 'href="/shop/static/css/shop.css"' in prefixed
    assert 'href="/static/css/shop.css"' not in prefixed
