"""The htmx helper: which responses vary on htmx's request headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.app import HTMX, Client, post

HTMX_HEADERS = {"hx-request", "hx-request-type", "hx-history-restore-request"}
SHOP = Path(__file__).parents[1] / "bookshop"


def test_every_htmx_header_the_shop_reads_is_one_its_responses_vary_on() -> None:
    # A header read anywhere in the shop's own code but left out of Vary would let a cache serve
    # a fragment for a page.
    read = {
        name.lower()
        for path in SHOP.glob("*.py")
        for name in re.findall(r"""headers\.get\(\s*["'](HX-[A-Za-z-]+)""", path.read_text())
    }
    assert read and read <= HTMX_HEADERS


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
