"""Compressing what the shop sends: Brotli or gzip, as the browser accepts, for text only."""

from __future__ import annotations

import gzip
from collections.abc import Collection

import brotli
from quart import Quart, Response, request
from werkzeug.datastructures import Accept

# Brotli first: smaller than gzip at the same CPU cost; gzip for clients without it.
ENCODINGS = ("br", "gzip")
COMPRESSIBLE_TYPES = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "text/plain",
        "application/javascript",
        "application/json",
        "application/xml",
        "image/svg+xml",
    }
)
# Below this a compressed body saves less than its headers cost, and no packet.
MIN_BYTES = 512
# Pages are compressed on every request: fast levels (docs/performance.md, "Compression").
# Static files are compressed once, at the best levels.
FAST = {"br": 1, "gzip": 1}
BEST = {"br": 11, "gzip": 9}


def negotiate(accepted: Accept) -> str | None:
    """The encoding to send: the browser's most wanted of ENCODINGS (Brotli on a tie), or None
    when it accepts neither."""
    best = max(ENCODINGS, key=accepted.quality)
    return best if accepted.quality(best) > 0 else None


def compress(body: bytes, encoding: str, *, best: bool = False) -> bytes:
    """`body` in `encoding` ("br" or "gzip"): at fast levels, or at the best ones for a file
    compressed once."""
    level = (BEST if best else FAST)[encoding]
    if encoding == "br":
        return bytes(brotli.compress(body, mode=brotli.MODE_TEXT, quality=level))
    # mtime=0: the same body always compresses to the same bytes.
    return gzip.compress(body, compresslevel=level, mtime=0)


def compressible(mimetype: str | None) -> bool:
    """True for the text types worth compressing (not images other than SVG, not archives)."""
    return mimetype in COMPRESSIBLE_TYPES


def install(app: Quart, uncompressed_endpoints: Collection[str]) -> None:
    """Compress the app's text responses, except those of `uncompressed_endpoints` (answers with a
    secret that cannot be masked beside request input: README, "Compression and caching")."""

    @app.after_request
    async def compress_response(response: Response) -> Response:
        if (
            # An HTTPException left to Quart answers as Werkzeug's own response, sync and short.
            not isinstance(response, Response)
            or not compressible(response.mimetype)
            or "Content-Encoding" in response.headers
            or response.status_code in (204, 206, 304)
            or request.endpoint in uncompressed_endpoints
        ):
            return response
        # Every response of a compressible type: a cache must not hand one encoding to all.
        response.vary.add("Accept-Encoding")
        encoding = negotiate(request.accept_encodings)
        if encoding is None:
            return response
        body = await response.get_data(as_text=False)
        if len(body) < MIN_BYTES:
            return response
        response.set_data(compress(body, encoding))
        response.headers["Content-Encoding"] = encoding
        return response
