"""What a shared cache may keep: a page of a session is private and varies on the cookie; what
depends on no session may be shared, for as long as it says."""

from __future__ import annotations

import pytest
from quart import Quart

from bookshop import create_app
from bookshop.caching import SHARED_PAGE_SECONDS
from bookshop.config import Settings
from tests.fixtures.app import HTMX, Client

PAGES = ["/", "/books/code", "/checkout/code"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
async def test_a_page_of_a_session_is_private_and_varies_on_the_cookie(
    client: Client, path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200
    assert "Cookie" in response.vary
    assert response.cache_control.private or response.cache_control.no_store
    assert not response.cache_control.public


@pytest.mark.parametrize("path", ["/", "/books/code"])
async def test_a_first_visit_that_begins_a_session_is_private(app: Quart, path: str) -> None:
    # The page carries the new session's CSRF token (in its forms): it is this visitor's alone.
    response = await app.test_client().get(path)
    assert "Set-Cookie" in response.headers
    assert response.cache_control.private and response.cache_control.no_cache
    assert "Cookie" in response.vary


async def test_a_page_that_reads_no_session_is_shared_for_a_minute(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/about-the-shop")
    async def about() -> str:
        return "Books since 2026."

    async with app.test_app() as started:
        visitor = await started.test_client().get("/about-the-shop")
        assert visitor.cache_control.public
        assert visitor.cache_control.max_age == SHARED_PAGE_SECONDS
        # A shared cache keeps the sessionless copy apart from what a shopper's cookie gets.
        assert "Cookie" in visitor.vary
        started_shopping = started.test_client()
        await started_shopping.get("/")
        shopper = await started_shopping.get("/about-the-shop")
        assert shopper.cache_control.private and not shopper.cache_control.public


@pytest.mark.parametrize("path", ["/robots.txt", "/static/css/shop.css"])
async def test_what_is_the_same_for_everyone_keeps_its_own_lifetime(
    client: Client, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.cache_control.public and response.cache_control.max_age
    assert "Cookie" not in response.vary
