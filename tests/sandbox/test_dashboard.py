"""The sandbox's own pages: health, dashboard and the params decoder behind the API."""

from __future__ import annotations

import httpx

from bookshop.sandbox.params import parse_query
from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import new_intent


def test_health_needs_no_key(sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.url}/_sandbox/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_dashboard_lists_recent_intents_and_says_test_mode(sandbox: SandboxServer) -> None:
    intent = new_intent(sandbox.client(), 4321)
    page = httpx.get(f"{sandbox.url}/")
    assert page.status_code == 200
    assert "Stripe sandbox — test mode, no real money" in page.text
    assert intent.id in page.text and "4321" in page.text
    assert "payment_intent.created" in page.text


def test_params_decode_brackets_lists_and_nesting_leaving_indexes_to_the_schema() -> None:
    # `items[0]` stays a hash: only an endpoint's parameters tell an array (stripe-python's
    # `expand[0]`) from a hash with numeric keys (`metadata[1]`).
    decoded = parse_query(
        "amount=100&metadata[book]=x&expand[]=a&expand[]=b&items[0]=p&items[1]=q"
        "&payment_method_data[card][number]=4242&created[gte]=5&empty="
    )
    assert decoded == {
        "amount": "100",
        "metadata": {"book": "x"},
        "expand": ["a", "b"],
        "items": {"0": "p", "1": "q"},
        "payment_method_data": {"card": {"number": "4242"}},
        "created": {"gte": "5"},
        "empty": "",
    }
