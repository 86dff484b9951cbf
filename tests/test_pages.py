"""Rendering pages: each link's URL built once, and only where it can be remembered."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart

from tests.fixtures.app import Client, without_csrf_tokens


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
    assert without_csrf_tokens(await again.get_data(as_text=False)) == without_csrf_tokens(
        await first.get_data(as_text=False)
    )
    assert url_builds == []


async def test_absolute_links_follow_each_requests_host_without_a_public_url(
    client: Client,
) -> None:
    # The path is remembered; the host is the request's own each time (development only).
    for host in ("localhost", "127.0.0.1:5000"):
        page = await client.get("/books/art-of-doing-science", headers={"Host": host})
        assert page.status_code == 200
        canonical = f'<link rel="canonical" href="http://{host}/books/art-of-doing-science">'
        assert canonical in (await page.get_data(as_text=True))


async def test_links_follow_the_root_path_the_shop_is_served_under(client: Client) -> None:
    plain = await (await client.get("/")).get_data(as_text=True)
    prefixed = await (await client.get("/", root_path="/shop")).get_data(as_text=True)
    assert re.search(r'href="/static/css/shop\.[0-9a-f]{12}\.css"', plain)
    assert re.search(r'href="/shop/static/css/shop\.[0-9a-f]{12}\.css"', prefixed)
    assert 'href="/static/' not in prefixed
