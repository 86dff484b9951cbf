"""The libcurl transport: Stripe's answer as text, the right headers, retries where they help."""

from __future__ import annotations

import pytest

from bookshop.payments.transport import CurlClient, _response_headers
from tests.fixtures.sandbox import SandboxServer


def test_the_http_transport_returns_stripes_answer_as_text(sandbox: SandboxServer) -> None:
    transport = CurlClient(sandbox.url, timeout=5)
    try:
        body, status, headers = transport.request(
            "get",
            f"{sandbox.url}/v1/payment_intents/pi_missing",
            {"Authorization": f"Bearer {sandbox.secret_key}"},
        )
    finally:
        transport.close()
    assert status == 404
    assert '"resource_missing"' in body
    assert headers["content-type"].startswith("application/json")


def test_the_transport_reads_the_headers_of_the_answer_not_of_a_proxy_tunnel() -> None:
    through_a_proxy = [
        b"HTTP/1.1 200 Connection established\r\n",
        b"Proxy-Agent: squid\r\n",
        b"\r\n",
        b"HTTP/1.1 402 Payment Required\r\n",
        b"Request-Id: req_123\r\n",
        b"Stripe-Should-Retry:  false \r\n",
        b"\r\n",
    ]
    assert _response_headers(through_a_proxy) == {
        "request-id": "req_123",
        "stripe-should-retry": "false",
    }


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        # Nothing listens: stripe-python may retry (with the same idempotency key).
        ("unreachable", True),
        # A TLS handshake with the plain-http sandbox fails as with a host that intercepts
        # Stripe's traffic: retrying cannot mend that, so stripe-python must not.
        ("tls", False),
    ],
)
def test_network_failures_are_connection_errors_retried_only_where_a_retry_can_help(
    sandbox: SandboxServer, failure: str, retryable: bool
) -> None:
    over_tls = sandbox.url.replace("http://", "https://")
    base = "http://127.0.0.1:9" if failure == "unreachable" else over_tls
    transport = CurlClient(base, timeout=5)
    with pytest.raises(Exception) as raised:
        transport.request("get", f"{base}/v1/payment_intents", {})
    transport.close()
    assert type(raised.value).__name__ == "APIConnectionError"
    assert raised.value.should_retry is retryable  # type: ignore[attr-defined]
