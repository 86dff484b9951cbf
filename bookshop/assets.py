"""Static files served by content: fingerprinted names, compressed once, cached for a year."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from quart import Quart, Response, request
from werkzeug.exceptions import NotFound

from bookshop.compression import ENCODINGS, MIN_BYTES, compress, compressible, negotiate
from bookshop.security import policy

STATIC_FOLDER = Path(__file__).resolve().parent.parent / "static"
HASH_CHARS = 12
# A fingerprinted name changes with its content, so a browser may keep it for good.
IMMUTABLE = "public, max-age=31536000, immutable"
# The plain name (an old page, a bookmark, a hand-typed URL) may change under the same name.
SHORT = "public, max-age=300"
# A fingerprinted name, `css/shop.<hash>.css`: group 1 + group 2 is the plain name.
FINGERPRINTED = re.compile(rf"(.+)\.[0-9a-f]{{{HASH_CHARS}}}((?:\.[^./]+)?)")


@dataclass(frozen=True)
class Asset:
    """One static file: its bodies by encoding ("identity", and "br"/"gzip" when they help)."""

    name: str
    fingerprinted: str
    mimetype: str
    digest: str
    bodies: Mapping[str, bytes]

    def etag(self, encoding: str) -> str:
        """A strong validator for one representation: content and encoding."""
        return f"{self.digest}-{encoding}"


class Assets:
    """The static folder's files, read, hashed and compressed when the shop starts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_name: dict[str, Asset] = {}
        self._by_fingerprint: dict[str, Asset] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            asset = read_asset(path.relative_to(folder).as_posix(), path.read_bytes())
            self._by_name[asset.name] = asset
            self._by_fingerprint[asset.fingerprinted] = asset

    def url_name(self, name: str) -> str:
        """The fingerprinted name to link to (an unknown name as it is: it will 404)."""
        asset = self._by_name.get(name)
        return asset.fingerprinted if asset else name

    def find(self, name: str) -> tuple[Asset, bool] | None:
        """The asset a URL names, and whether it was named by its current fingerprint."""
        if name in self._by_fingerprint:
            return self._by_fingerprint[name], True
        if name in self._by_name:
            return self._by_name[name], False
        # Another release's fingerprint (a cached page, a host not yet updated): today's file,
        # better than a page without its CSS, but briefly cached since it is not what was named.
        old = FINGERPRINTED.fullmatch(name)
        if old and (asset := self._by_name.get(old[1] + old[2])):
            return asset, False
        return None


def fingerprinted_name(name: str, digest: str) -> str:
    """`css/shop.css` -> `css/shop.<hash>.css`: the hash before the last suffix, so the type
    still shows."""
    folder, _, file = name.rpartition("/")
    stem, dot, suffix = file.rpartition(".")
    hashed = f"{stem}.{digest}.{suffix}" if dot and stem else f"{file}.{digest}"
    return f"{folder}/{hashed}" if folder else hashed


def read_asset(name: str, data: bytes) -> Asset:
    """An asset from a file's name and bytes."""
    digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    bodies = {"identity": data}
    if compressible(mimetype) and len(data) >= MIN_BYTES:
        for encoding in ENCODINGS:
            packed = _compressed(data, encoding)
            if len(packed) < len(data):
                bodies[encoding] = packed
    return Asset(name, fingerprinted_name(name, digest), mimetype, digest, bodies)


@lru_cache(maxsize=256)
def _compressed(data: bytes, encoding: str) -> bytes:
    # At the best levels, once per process: every app built in it (a worker has one; the
    # tests build hundreds) shares the result.
    return compress(data, encoding, best=True)


def install(app: Quart, folder: Path = STATIC_FOLDER) -> Assets:
    """Serve `folder` at /static/ and make `url_for('static', ...)` link to fingerprinted names.

    The app must be built with `static_folder=None`: this takes the `static` endpoint's place.
    """
    assets = Assets(folder)
    app.extensions["assets"] = assets

    @app.url_defaults
    def fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = assets.url_name(values["filename"])

    async def serve(filename: str) -> Response:
        found = assets.find(filename)
        if found is None:
            raise NotFound("There is no such file.")
        asset, by_fingerprint = found
        encoding = "identity"
        if len(asset.bodies) > 1:
            encoding = negotiate(request.accept_encodings) or "identity"
            if encoding not in asset.bodies:
                encoding = "identity"
        etag = asset.etag(encoding)
        # Weak comparison (RFC 9110 13.1.2): a proxy may have weakened the ETag to W/"...".
        if request.if_none_match.contains_weak(etag):
            response = Response(b"", status=304)
            # No body, so nothing to describe: a 304's headers update the cached 200's.
            del response.headers["Content-Type"], response.headers["Content-Length"]
        else:
            response = Response(asset.bodies[encoding], mimetype=asset.mimetype)
            if encoding != "identity":
                response.headers["Content-Encoding"] = encoding
        if len(asset.bodies) > 1:
            response.vary.add("Accept-Encoding")
        response.set_etag(etag)
        response.headers["Cache-Control"] = IMMUTABLE if by_fingerprint else SHORT
        return response

    app.add_url_rule("/static/<path:filename>", "static", policy()(serve), methods=["GET"])
    return assets
