"""The sandbox's own pages: health, the dashboard and its details pages, and the params decoder
behind the API."""

from __future__ import annotations

import datetime
import json
import re

import httpx
import pytest

from bookshop.sandbox.money import display
from bookshop.sandbox.params import parse_query
from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import new_intent
from tests.sandbox.receiver import running_receiver

SECRET = "whsec_test_dashboard"


def test_health_needs_no_key(sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.url}/_sandbox/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_dashboard_lists_recent_intents_and_says_test_mode(sandbox: SandboxServer) -> None:
    intent = new_intent(sandbox.client(), 4321)
    page = httpx.get(f"{sandbox.url}/")
    assert page.status_code == 200
    assert "Stripe sandbox — test mode, no real money" in page.text
    assert intent.id in page.text and "43.21 USD" in page.text
    assert "payment_intent.created" in page.text


def utc(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_the_dashboard_shows_amounts_as_money_and_times_as_dates(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    sgd = client.v1.payment_intents.create({"amount": 2600, "currency": "sgd"})
    jpy = client.v1.payment_intents.create({"amount": 2600, "currency": "jpy"})
    page = httpx.get(f"{sandbox.url}/").text
    row = page[page.index(sgd.id) - 600 : page.index(sgd.id) + 300]
    assert "26.00 SGD" in row and f"{utc(sgd.created)} UTC" in row
    assert ">2600<" not in row and str(sgd.created) not in page
    assert "2,600 JPY" in page[page.index(jpy.id) - 600 : page.index(jpy.id)]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page[page.index("<h2>Events") :])


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (2600, "sgd", "26.00 SGD"),
        (5, "usd", "0.05 USD"),
        (123456789, "eur", "1,234,567.89 EUR"),
        (2600, "jpy", "2,600 JPY"),
        (50, "krw", "50 KRW"),
        (-1250, "gbp", "-12.50 GBP"),
    ],
)
def test_amounts_are_shown_in_major_units_with_the_currency(
    amount: int, currency: str, shown: str
) -> None:
    assert display(amount, currency) == shown


def test_each_payment_and_event_opens_to_its_details(sandbox: SandboxServer) -> None:
    intent = new_intent(sandbox.client(), 1500)
    page = httpx.get(f"{sandbox.url}/").text
    assert f'<a href="/payments/{intent.id}"><code>{intent.id}</code></a>' in page
    event = sandbox.events("payment_intent.created")[0]
    assert f'<a href="/events/{event["id"]}"><code>{event["id"]}</code></a>' in page


def test_a_payments_page_shows_its_json_charge_refunds_and_webhook_deliveries(
    sandbox: SandboxServer,
) -> None:
    client = sandbox.client()
    with running_receiver(fail_first=1) as receiver:
        sandbox.add_webhook_endpoint(receiver.url, SECRET)
        try:
            intent = client.v1.payment_intents.create({"amount": 2600, "currency": "sgd"})
            paid = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
            refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000})
            wanted = {"payment_intent.created", "charge.refunded", "refund.created"}
            receiver.wait_for(
                lambda ds: (
                    wanted
                    <= {json.loads(d.body)["type"] for d in ds if intent.id.encode() in d.body}
                )
            )
        finally:
            sandbox.remove_webhook_endpoint(receiver.url)
    page = httpx.get(f"{sandbox.url}/payments/{intent.id}")
    assert page.status_code == 200
    text = page.text
    assert "26.00 SGD" in text and "succeeded" in text
    charges = text[text.index("<h2>Charges") : text.index("<h2>Events")]
    assert str(paid.latest_charge) in charges and "Visa ending 4242" in charges
    assert refund.id in charges and "10.00 SGD" in charges
    events = text[text.index("<h2>Events") : text.index("<h2>PaymentIntent JSON")]
    for kind in ("payment_intent.created", "payment_intent.succeeded", "charge.succeeded"):
        assert kind in events
    assert "refund.created" in events and "charge.refunded" in events
    assert (
        f"<code>{receiver.url}</code>" in events and '<span class="ok">delivered</span>' in events
    )
    # The first delivery failed with a 500, its retry answered 200.
    assert re.search(r"2 attempts:\s*500, 200\s*</div>", events)
    pretty = json.dumps(json.loads(json.dumps(paid.to_dict())), indent=2)
    assert pretty.splitlines()[1].replace('"', "&#34;") in text


def test_an_events_page_shows_its_json_and_each_delivery_attempt(sandbox: SandboxServer) -> None:
    with running_receiver(fail_first=1) as receiver:
        sandbox.add_webhook_endpoint(receiver.url, SECRET)
        try:
            intent = new_intent(sandbox.client(), 990)
            receiver.wait_for(lambda ds: any(intent.id.encode() in d.body for d in ds))
        finally:
            sandbox.remove_webhook_endpoint(receiver.url)
    event = next(
        e
        for e in sandbox.events("payment_intent.created")
        if e["data"]["object"]["id"] == intent.id
    )
    page = httpx.get(f"{sandbox.url}/events/{event['id']}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>payment_intent.created</h1>" in text
    assert f'<a href="/payments/{intent.id}">' in text
    assert f"{utc(event['created'])} UTC" in text
    deliveries = text[text.index("<h2>Webhook deliveries") : text.index("<h2>Event JSON")]
    assert f"<code>{receiver.url}</code>" in deliveries
    assert re.search(r"<td>1</td>.*?HTTP 500.*?failed", deliveries, re.S)
    assert re.search(r"<td>2</td>.*?HTTP 200.*?succeeded", deliveries, re.S)
    assert "&#34;type&#34;: &#34;payment_intent.created&#34;" in text


def test_unknown_payments_and_events_are_404s(sandbox: SandboxServer) -> None:
    assert httpx.get(f"{sandbox.url}/payments/pi_missing").status_code == 404
    assert httpx.get(f"{sandbox.url}/events/evt_missing").status_code == 404


def test_dashboard_pages_run_no_script_and_are_not_cached(sandbox: SandboxServer) -> None:
    intent = new_intent(sandbox.client(), 700, description="<script>alert(1)</script>")
    event = sandbox.events("payment_intent.created")[0]
    for path in ("/", f"/payments/{intent.id}", f"/events/{event['id']}"):
        page = httpx.get(f"{sandbox.url}{path}")
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert page.headers["Cache-Control"] == "no-store"
        assert "<script" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


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
