"""stripe-python's HTTP transport on libcurl: how the shop's requests reach Stripe."""

from __future__ import annotations

import io
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pycurl
import stripe

CONNECT_TIMEOUT_MS = 5000


# libcurl's failures that a retry cannot mend: TLS and certificate problems.
TLS_FAILURES = frozenset(
    getattr(pycurl, name)
    for name in (
        "E_SSL_CONNECT_ERROR",
        "E_PEER_FAILED_VERIFICATION",
        "E_SSL_CERTPROBLEM",
        "E_SSL_CACERT_BADFILE",
        "E_SSL_CIPHER",
        "E_SSL_ISSUER_ERROR",
        "E_SSL_CRL_BADFILE",
        "E_SSL_PINNEDPUBKEYNOTMATCH",
        "E_SSL_INVALIDCERTSTATUS",
        "E_USE_SSL_FAILED",
    )
)


class CurlClient(stripe.HTTPClient):
    """stripe-python's HTTP transport on libcurl (pycurl): one handle per pool thread.

    Through urllib3 and `http.client`, most of a call's CPU was Python building the request and
    parsing the answer's headers while holding the GIL; libcurl does the same in C with the GIL
    released (docs/performance.md, "libcurl under stripe-python"). Each thread keeps its own handle
    (a handle is not thread-safe), and with it its kept-alive connection. Stripe's client keeps
    doing the rest: headers, idempotency keys, retries (`should_retry` below) and its errors.
    Streamed responses, which the shop never reads, stay unimplemented as in the base class.
    """

    name = "pycurl"

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__()
        # The shop talks to one host: its proxy (honouring NO_PROXY) is read once, at start-up;
        # changes to HTTP(S)_PROXY after that are not seen, and libcurl's own reading of them is
        # turned off ("" = no proxy).
        host = urlsplit(api_base).hostname or ""
        self._proxy_url = "" if urllib.request.proxy_bypass(host) else _proxy_for(api_base) or ""
        self._timeout_ms = int(timeout * 1000)
        self._local = threading.local()
        self._handles: list[pycurl.Curl] = []
        self._handles_lock = threading.Lock()

    def _handle(self) -> pycurl.Curl:
        curl: pycurl.Curl | None = getattr(self._local, "curl", None)
        if curl is None:
            curl = self._local.curl = pycurl.Curl()
            with self._handles_lock:
                self._handles.append(curl)
        return curl

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        curl = self._handle()
        curl.reset()  # options only: the handle keeps its connection
        body = io.BytesIO()
        header_lines: list[bytes] = []
        if method == "get":
            curl.setopt(pycurl.HTTPGET, 1)
        elif method == "post":
            curl.setopt(pycurl.POSTFIELDS, post_data or "")
        else:
            curl.setopt(pycurl.CUSTOMREQUEST, method.upper())
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.PROXY, self._proxy_url)
        curl.setopt(
            pycurl.HTTPHEADER, [f"{name}: {value}" for name, value in (headers or {}).items()]
        )
        curl.setopt(pycurl.WRITEDATA, body)
        curl.setopt(pycurl.HEADERFUNCTION, header_lines.append)
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, min(CONNECT_TIMEOUT_MS, self._timeout_ms))
        curl.setopt(pycurl.TIMEOUT_MS, self._timeout_ms)
        curl.setopt(pycurl.CAINFO, stripe.ca_bundle_path)
        try:
            curl.perform()
        except pycurl.error as error:
            code = error.args[0]
            if code in TLS_FAILURES:
                raise _connection_error(
                    f"Could not make a verified TLS connection to Stripe (curl error {code})",
                    retry=False,
                ) from None
            # Timeouts, refused or dropped connections: stripe-python retries these (when
            # max_network_retries allows) with the same idempotency key.
            raise _connection_error(
                f"Could not reach Stripe (curl error {code})", retry=True
            ) from None
        status: int = curl.getinfo(pycurl.RESPONSE_CODE)
        return body.getvalue().decode("utf-8"), status, _response_headers(header_lines)

    def close(self) -> None:
        with self._handles_lock:
            for curl in self._handles:
                curl.close()
            self._handles.clear()


def _response_headers(lines: list[bytes]) -> dict[str, str]:
    """The last response's headers (a proxy's CONNECT answer comes first), names lower-cased."""
    headers: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("latin-1")
        if line.startswith("HTTP/"):
            headers.clear()
            continue
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _connection_error(message: str, retry: bool) -> stripe.APIConnectionError:
    error: stripe.APIConnectionError = stripe.APIConnectionError(  # type: ignore[no-untyped-call]
        message, should_retry=retry
    )
    return error


def _proxy_for(url: str) -> str | None:
    scheme = urlsplit(url).scheme or "https"
    proxies = urllib.request.getproxies()
    return proxies.get(scheme) or proxies.get("all")
