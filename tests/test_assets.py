"""Static files: fingerprinted names from url_for, compressed once, long caches for those names."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest

from bookshop import assets
from bookshop.assets import IMMUTABLE, SHORT, Assets, fingerprinted_name
from tests.fixtures.app import Client

LINKED = re.compile(r'(?:href|src)="(/static/[^"]+)"')
DECODERS = {"br": brotli.decompress, "gzip": gzip.decompress}
STATIC = Path(__file__).resolve().parent.parent / "static"


async def linked_files(client: Client) -> list[str]:
    """The static URLs the shop page links to."""
    return LINKED.findall(await (await client.get("/")).get_data(as_text=True))


async def test_pages_link_to_fingerprinted_names(client: Client) -> None:
    linked = await linked_files(client)
    assert linked, "the shop page links its stylesheet, script and icon"
    for url in linked:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js|svg)$", url), url


async def test_a_fingerprinted_file_is_cached_for_a_year_and_the_plain_name_briefly(
    client: Client,
) -> None:
    for url in await linked_files(client):
        hashed = await client.get(url)
        plain = await client.get(re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", url))
        assert hashed.status_code == plain.status_code == 200
        assert hashed.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
        assert plain.headers["Cache-Control"] == SHORT
        assert await hashed.get_data(as_text=False) == await plain.get_data(as_text=False)


@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_a_compressed_file_decompresses_to_the_file(client: Client, encoding: str) -> None:
    for name in ("css/shop.css", "vendor/htmx/htmx.min.js"):
        original = (STATIC / name).read_bytes()
        response = await client.get(f"/static/{name}", headers={"Accept-Encoding": encoding})
        body = await response.get_data(as_text=False)
        if len(original) >= 512:
            assert response.headers["Content-Encoding"] == encoding
            assert len(body) < len(original)
            assert DECODERS[encoding](body) == original
        else:
            assert "Content-Encoding" not in response.headers
            assert body == original
        assert "Accept-Encoding" in response.vary
        plain = await client.get(f"/static/{name}", headers={"Accept-Encoding": "identity"})
        assert await plain.get_data(as_text=False) == original
        assert "Content-Encoding" not in plain.headers


async def test_a_revalidation_with_the_etag_is_a_304(client: Client) -> None:
    first = await client.get("/static/vendor/htmx/htmx.min.js", headers={"Accept-Encoding": "br"})
    again = await client.get(
        "/static/vendor/htmx/htmx.min.js",
        headers={"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]},
    )
    assert again.status_code == 304
    assert await again.get_data(as_text=False) == b""
    other_encoding = await client.get(
        "/static/vendor/htmx/htmx.min.js",
        headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]},
    )
    assert other_encoding.status_code == 200


async def test_a_304_keeps_the_validators_and_describes_no_body(client: Client) -> None:
    url = "/static/vendor/htmx/htmx.min.js"
    etag = (await client.get(url, headers={"Accept-Encoding": "br"})).headers["ETag"]
    revalidation = {"Accept-Encoding": "br", "If-None-Match": etag}
    # What the app sends: the test client's Response adds a Content-Type and Content-Length.
    async with client.request(url, headers=revalidation) as sent:
        await sent.send_complete()
    assert sent.status_code == 304 and sent.headers is not None
    assert "Content-Type" not in sent.headers and "Content-Length" not in sent.headers
    assert sent.headers["ETag"] == etag
    assert sent.headers["Cache-Control"] == SHORT
    assert "Accept-Encoding" in sent.headers["Vary"]


async def test_a_weakened_etag_still_revalidates(client: Client) -> None:
    # A proxy that compresses or transforms a response may turn its ETag into W/"...".
    url = "/static/vendor/htmx/htmx.min.js"
    etag = (await client.get(url)).headers["ETag"]
    again = await client.get(url, headers={"If-None-Match": f"W/{etag}"})
    assert again.status_code == 304


async def test_a_previous_releases_fingerprint_gets_todays_file_briefly_cached(
    client: Client,
) -> None:
    # A page cached from the release before, or a host still on it, links the old fingerprint.
    stale = await client.get("/static/css/shop.0123456789ab.css")
    assert stale.status_code == 200
    assert await stale.get_data(as_text=False) == (STATIC / "css/shop.css").read_bytes()
    assert stale.headers["Cache-Control"] == SHORT


@pytest.mark.parametrize(
    "url",
    [
        "/static/nope.css",
        "/static/css/nope.000000000000.css",
        # Not a fingerprint's shape: too short, not hex.
        "/static/css/shop.0000.css",
        "/static/css/shop.00000000000g.css",
        "/static/../bookshop/config.py",
        "/static/%2e%2e/bookshop/config.py",
    ],
)
async def test_unknown_files_are_404(client: Client, url: str) -> None:
    assert (await client.get(url)).status_code == 404


def test_a_fingerprinted_url_changes_when_its_file_changes(tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    sheet = tmp_path / "css" / "site.css"
    sheet.write_text("body { color: black; }\n")
    before = Assets(tmp_path).url_name("css/site.css")
    sheet.write_text("body { color: navy; }\n")
    after = Assets(tmp_path).url_name("css/site.css")
    assert before != after
    for name in (before, after):
        assert re.fullmatch(r"css/site\.[0-9a-f]{12}\.css", name)
    current = Assets(tmp_path)
    plain = current.find("css/site.css")
    assert plain is not None
    # The new name is the file's own fingerprint; the old one finds it too, but not as its own.
    assert current.find(after) == (plain[0], True)
    assert current.find(before) == (plain[0], False)


def test_fingerprints_go_before_the_last_suffix() -> None:
    assert fingerprinted_name("vendor/htmx/htmx.min.js", "abc") == "vendor/htmx/htmx.min.abc.js"
    assert fingerprinted_name("favicon.svg", "abc") == "favicon.abc.svg"
    assert fingerprinted_name("vendor/LICENSE", "abc") == "vendor/LICENSE.abc"


def test_each_file_is_compressed_once_however_many_apps_serve_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = assets.compress

    def counting(body: bytes, encoding: str, *, best: bool = False) -> bytes:
        calls.append(encoding)
        assert best, "static files are compressed at the best levels"
        return real(body, encoding, best=best)

    monkeypatch.setattr(assets, "compress", counting)
    # Content no other test compresses: the cache is the process's.
    (tmp_path / "app.js").write_text(f"console.log('{tmp_path}');\n" * 40)
    for _ in range(3):
        Assets(tmp_path)
    assert sorted(calls) == ["br", "gzip"]


async def test_static_files_are_answered_without_a_session(client: Client) -> None:
    response = await client.get("/static/css/shop.css")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
