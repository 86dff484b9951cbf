"""Fault injection: latency, 500 api_error and dropped connections, as stripe-python sees them."""

from __future__ import annotations

import time

import httpx
import pytest
import stripe

from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import new_intent


def test_latency_delays_api_calls(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    new_intent(client)
    sandbox.set_faults(latency_ms=400)
    started = time.monotonic()
    new_intent(client)
    assert time.monotonic() - started >= 0.4


def test_error_mode_answers_500_api_error(sandbox: SandboxServer) -> None:
    sandbox.set_faults(fail_rate=1.0, fail_mode="error")
    with pytest.raises(stripe.APIError) as caught:
        new_intent(sandbox.client(max_network_retries=0))
    assert caught.value.http_status == 500
    assert caught.value.json_body["error"]["type"] == "api_error"  # type: ignore[index]


def test_drop_mode_is_a_connection_error(sandbox: SandboxServer) -> None:
    sandbox.set_faults(fail_rate=1.0, fail_mode="drop")
    with pytest.raises(stripe.APIConnectionError) as caught:
        new_intent(sandbox.client(max_network_retries=0))
    assert caught.value.should_retry


def test_faults_touch_only_the_api(sandbox: SandboxServer) -> None:
    sandbox.set_faults(fail_rate=1.0, fail_mode="drop")
    assert httpx.get(f"{sandbox.url}/_sandbox/health").status_code == 200
    faults = httpx.get(
        f"{sandbox.url}/_sandbox/faults",
        headers={"Authorization": f"Bearer {sandbox.secret_key}"},
    ).json()
    assert faults == {"latency_ms": 0, "fail_rate": 1.0, "fail_mode": "drop"}


def test_client_retries_get_through_intermittent_500s(sandbox: SandboxServer) -> None:
    sandbox.set_faults(fail_rate=0.5, fail_mode="error")
    client = sandbox.client(max_network_retries=8)
    intents = [new_intent(client) for _ in range(3)]
    assert all(pi.status == "requires_payment_method" for pi in intents)


def test_fault_control_needs_the_secret_key(sandbox: SandboxServer) -> None:
    response = httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"fail_rate": 1},
        headers={"Authorization": f"Bearer {sandbox.publishable_key}"},
    )
    assert response.status_code == 401
    assert httpx.post(f"{sandbox.url}/_sandbox/faults", json={"fail_rate": 1}).status_code == 401
    bad = httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        data={"fail_mode": "explode"},
        headers={"Authorization": f"Bearer {sandbox.secret_key}"},
    )
    assert bad.status_code == 400
