"""Compression: Brotli or gzip as the browser asks, Vary on every text response, never where a
secret that cannot be masked sits beside request input."""

from __future__ import annotations

import gzip
import html
import re

import brotli
import pytest
from quart import Response
from werkzeug.datastructures import Accept
from werkzeug.http import parse_accept_header

from bookshop.compression import MIN_BYTES, compress, negotiate
from tests.fixtures.app import HTMX, Client, without_csrf_tokens
from tests.fixtures.paying import THREE_D_SECURE, press_pay
from tests.fixtures.sandbox import SandboxServer

DECODERS = {"br": brotli.decompress, "gzip": gzip.decompress}
# Dynamic text of every kind the shop sends: page, fragment, error page, SVG.
PAGES = [
    ("/", {}),
    ("/?q=machine", {}),
    ("/?q=machine", HTMX),
    ("/cart", {}),
    ("/no/such/page", {}),
    ("/covers/code.svg", {}),
]


async def body_of(response: Response) -> bytes:
    return await response.get_data(as_text=False)


@pytest.mark.parametrize(("url", "headers"), PAGES)
@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_a_compressed_response_decompresses_to_the_uncompressed_one(
    client: Client, url: str, headers: dict[str, str], encoding: str
) -> None:
    plain = await client.get(url, headers={**headers, "Accept-Encoding": "identity"})
    packed = await client.get(url, headers={**headers, "Accept-Encoding": encoding})
    assert packed.status_code == plain.status_code
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == encoding
    raw = await body_of(packed)
    assert int(packed.headers["Content-Length"]) == len(raw)
    assert len(raw) < len(await body_of(plain))
    assert without_csrf_tokens(DECODERS[encoding](raw)) == without_csrf_tokens(await body_of(plain))


@pytest.mark.parametrize(("url", "headers"), PAGES)
@pytest.mark.parametrize("accept", ["br", "gzip", "identity", None])
async def test_every_text_response_varies_on_accept_encoding_whether_compressed_or_not(
    client: Client, url: str, headers: dict[str, str], accept: str | None
) -> None:
    sent = {**headers, **({"Accept-Encoding": accept} if accept else {})}
    response = await client.get(url, headers=sent)
    assert "Accept-Encoding" in response.vary
    if "HX-Request" in response.vary:  # the htmx headers are still named beside it
        assert {"HX-Request-Type", "HX-History-Restore-Request"} <= set(response.vary)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("deflate", None),
        ("identity", None),
        ("", None),
    ],
)
def test_the_encoding_is_negotiated_with_quality_values(accept: str, chosen: str | None) -> None:
    assert negotiate(parse_accept_header(accept, Accept)) == chosen


@pytest.mark.parametrize("encoding", ["br", "gzip"])
@pytest.mark.parametrize("best", [False, True])
def test_compress_round_trips_and_is_deterministic(encoding: str, best: bool) -> None:
    body = b"<p>Bookshop</p>" * 200
    packed = compress(body, encoding, best=best)
    assert DECODERS[encoding](packed) == body
    assert compress(body, encoding, best=best) == packed


async def test_answers_with_a_client_secret_are_never_compressed(
    client: Client, sandbox: SandboxServer
) -> None:
    # The pay step's 3D Secure answer and the result carry the PaymentIntent's client secret
    # beside request input (README: BREACH).
    asked = await press_pay(
        client, sandbox, "/checkout/code", THREE_D_SECURE, headers={**HTMX, "Accept-Encoding": "br"}
    )
    body = await asked.get_data(as_text=True)
    assert asked.status_code == 200 and "data-client-secret" in body
    assert "Content-Encoding" not in asked.headers
    status_url = re.search(r'data-status-url="([^"]+)"', body)
    assert status_url
    for headers in ({}, HTMX):
        result = await client.get(
            html.unescape(status_url[1]), headers={**headers, "Accept-Encoding": "br"}
        )
        assert result.status_code == 200
        assert "Content-Encoding" not in result.headers


async def test_the_checkout_page_carries_no_secret_and_is_compressed(client: Client) -> None:
    response = await client.get("/checkout/code", headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert b"secret" not in brotli.decompress(await body_of(response))


async def test_small_responses_go_uncompressed(client: Client) -> None:
    response = await client.get("/?q=zzzz-nothing", headers={**HTMX, "Accept-Encoding": "br"})
    assert len(await body_of(response)) < MIN_BYTES
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.vary


async def test_the_health_check_in_front_is_left_alone(client: Client) -> None:
    response = await client.get("/healthz", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in response.headers
    assert "Vary" not in response.headers


async def test_a_head_request_is_told_the_encoding_a_get_would_get(client: Client) -> None:
    get = await client.get("/", headers={"Accept-Encoding": "br"})
    head = await client.head("/", headers={"Accept-Encoding": "br"})
    assert head.headers["Content-Encoding"] == get.headers["Content-Encoding"] == "br"
