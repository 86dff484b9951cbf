"""The `/v1` API as an ASGI app of its own: what it answers before and around the endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from quart import Quart

from bookshop.sandbox.api import MAX_BODY_BYTES
from bookshop.sandbox.app import create_sandbox_app
from bookshop.sandbox.settings import DEFAULT_SECRET_KEY, SandboxSettings
from bookshop.sandbox.store import Store

AUTH = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}


def sandbox_seen_by_quart() -> tuple[Quart, list[str]]:
    """A sandbox app that records each path its Quart layer handles."""
    app = create_sandbox_app(SandboxSettings())
    seen: list[str] = []

    @app.before_request
    async def record() -> None:
        from quart import request

        seen.append(request.path)

    return app, seen


async def test_api_calls_are_served_without_quart_and_other_paths_with_it() -> None:
    app, seen = sandbox_seen_by_quart()
    client = app.test_client()
    created = await client.post(
        "/v1/payment_intents", form={"amount": "1500", "currency": "eur"}, headers=AUTH
    )
    assert created.status_code == 200
    assert (await created.get_json())["amount"] == 1500
    assert created.headers["Content-Type"] == "application/json"
    assert created.headers["Request-Id"].startswith("req_")
    health = await client.get("/_sandbox/health")
    assert health.status_code == 200
    assert seen == ["/_sandbox/health"]


async def test_a_body_over_the_limit_is_refused_with_stripes_error_body() -> None:
    app, _ = sandbox_seen_by_quart()
    response = await app.test_client().post(
        "/v1/payment_intents",
        data=b"amount=1500&description=" + b"a" * MAX_BODY_BYTES,
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    error = (await response.get_json())["error"]
    assert error["type"] == "invalid_request_error"
    assert str(MAX_BODY_BYTES) in error["message"]
    assert app.extensions["sandbox"].store.payment_intents.recent(1) == []


async def test_a_method_the_api_lacks_is_stripes_404_before_any_key_check() -> None:
    app, _ = sandbox_seen_by_quart()
    response = await app.test_client().put("/v1/payment_intents")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["message"].startswith(
        "Unrecognized request URL (PUT: /v1/payment_intents)"
    )


async def test_head_is_answered_as_get() -> None:
    app, _ = sandbox_seen_by_quart()
    response = await app.test_client().head("/v1/charges", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"


async def test_preflight_needs_no_key_and_allows_stripe_js_headers() -> None:
    app, seen = sandbox_seen_by_quart()
    response = await app.test_client().options(
        "/v1/payment_intents/pi_123/confirm",
        headers={"Origin": "http://127.0.0.1:5000", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Idempotency-Key" in response.headers["Access-Control-Allow-Headers"]
    assert seen == []


@pytest.mark.parametrize(
    ("path", "message", "param"),
    [
        (
            "/v1/payment_methods/pm_missing",
            "No such payment_method: 'pm_missing'",
            "payment_method",
        ),
        ("/v1/events/evt_missing", "No such event: 'evt_missing'", "id"),
    ],
)
async def test_an_object_that_is_not_there_is_stripes_404(
    path: str, message: str, param: str
) -> None:
    app, _ = sandbox_seen_by_quart()
    response = await app.test_client().get(path, headers=AUTH)
    assert response.status_code == 404
    error = (await response.get_json())["error"]
    assert (error["message"], error["param"], error["code"]) == (message, param, "resource_missing")


async def served_raw(
    app: Quart, method: str, messages: list[dict[str, Any]], **scope: Any
) -> list[dict[str, Any]]:
    """What the app sends for one request to /v1/payment_intents, given as raw ASGI messages."""
    incoming = iter(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    request = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/v1/payment_intents",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {DEFAULT_SECRET_KEY}".encode())],
        "server": ("127.0.0.1", 12111),
        **scope,
    }
    await app(request, receive, send)  # type: ignore[arg-type]
    return sent


FORM = {"type": "http.request", "body": b"amount=900&currency=usd", "more_body": False}


@pytest.mark.parametrize("server", [("127.0.0.1", 12111), None])
async def test_a_request_without_a_host_header_is_served(server: tuple[str, int] | None) -> None:
    sent = await served_raw(
        create_sandbox_app(SandboxSettings()), "POST", [FORM], http_version="1.0", server=server
    )
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["amount"] == 900


async def test_a_client_gone_before_its_body_ended_gets_nothing_done_and_no_answer() -> None:
    app = create_sandbox_app(SandboxSettings())
    cut_off = {"type": "http.request", "body": b"amount=900&curr", "more_body": True}
    sent = await served_raw(app, "POST", [cut_off, {"type": "http.disconnect"}])
    assert sent == []
    assert app.extensions["sandbox"].store.payment_intents.recent(1) == []


async def test_the_preflight_answer_has_no_body_and_no_content_length() -> None:
    sent = await served_raw(create_sandbox_app(SandboxSettings()), "OPTIONS", [FORM])
    assert sent[0]["status"] == 204
    names = {name for name, _ in sent[0]["headers"]}
    assert b"content-length" not in names
    assert b"access-control-allow-origin" in names
    assert sent[1]["body"] == b""


async def test_a_fault_of_the_sandbox_is_stripes_api_error_not_a_bare_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the sandbox")

    monkeypatch.setattr(Store, "create_payment_intent", broken)
    app, _ = sandbox_seen_by_quart()
    response = await app.test_client().post(
        "/v1/payment_intents", form={"amount": "1500", "currency": "eur"}, headers=AUTH
    )
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    error = (await response.get_json())["error"]
    assert (error["type"], error["message"]) == (
        "api_error",
        "An unknown error occurred while processing your request. Please try again.",
    )
