"""The sandbox's dashboard: recent payments, events and caught mail, each opening to its details.

Read-only pages, rendered with Jinja's escaping and locked down by a CSP that allows no script.
A message's HTML body is never put into these pages: it is served from a route of its own, under
a CSP that allows no script either, into an `<iframe sandbox>`.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint, Response, abort, render_template

from bookshop.sandbox import money
from bookshop.sandbox.mail import CaughtMessage
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.runtime import state
from bookshop.sandbox.webhooks import Attempt
from bookshop.text import visible

blueprint = Blueprint("dashboard", __name__)

RECENT = 50
# The pages' own: inline styles and the framed message body, nothing else.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# A message's HTML body: its inline styles and data: images, no script, no form, no fetch, no
# navigation away; sandboxed even when opened on its own, outside the dashboard's iframe.
MESSAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)


@blueprint.after_request
async def lock_down(response: Response) -> Response:
    """No script on any dashboard page, and nothing kept: the state changes all the time."""
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.app_template_filter("money")
def money_filter(amount: int | None, currency: str) -> str:
    """`26.00 SGD`, `2,600 JPY`."""
    return "" if amount is None else money.display(amount, currency)


@blueprint.app_template_filter("when")
def when(timestamp: float | None) -> str:
    """Unix seconds as `2026-12-06 13:55:07 UTC`."""
    if timestamp is None:
        return ""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@blueprint.app_template_filter("pretty")
def pretty(obj: Any) -> str:
    """An object's JSON as the API sends it, indented to read."""
    return json.dumps(obj, indent=2, ensure_ascii=False)


@blueprint.app_template_filter("visible")
def visible_filter(text: str | None) -> str:
    """What a stranger typed, with control and bidirectional characters shown as escapes."""
    return visible(text or "")


@blueprint.app_template_filter("payment_of")
def payment_of(event: JSON) -> str | None:
    """The PaymentIntent an event's object belongs to (itself, or a charge's or refund's)."""
    obj = event["data"]["object"]
    if obj.get("object") == "payment_intent":
        return str(obj["id"])
    intent = obj.get("payment_intent")
    return intent if isinstance(intent, str) else None


@dataclass
class Delivery:
    """An event's attempts at one webhook endpoint."""

    url: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Delivered: the endpoint answered 2xx once."""
        return any(attempt.ok for attempt in self.attempts)

    @property
    def last(self) -> Attempt:
        """The latest attempt."""
        return self.attempts[-1]


def deliveries(event_id: str) -> list[Delivery]:
    """An event's delivery attempts, by endpoint, in the order they were first tried."""
    by_url: dict[str, Delivery] = {}
    for attempt in state().dispatcher.attempts_for(event_id):
        by_url.setdefault(attempt.url, Delivery(attempt.url)).attempts.append(attempt)
    return list(by_url.values())


@blueprint.route("/")
async def index() -> str:
    """Recent PaymentIntents, events and caught mail, newest first."""
    sandbox = state()
    return await render_template(
        "dashboard.html",
        intents=sandbox.store.payment_intents.recent(RECENT),
        events=sandbox.store.events.recent(RECENT),
        messages=sandbox.mailbox.recent(RECENT),
        caught=len(sandbox.mailbox),
        smtp_port=sandbox.smtp_port,
        host=sandbox.settings.host,
        attempts=sandbox.dispatcher.last_attempt,
        endpoints=sandbox.dispatcher.endpoints,
        faults=sandbox.faults,
    )


@blueprint.route("/payments/<intent_id>")
async def payment(intent_id: str) -> str:
    """A PaymentIntent: its JSON, charges and their refunds, and its events' deliveries."""
    store = state().store
    intent = store.payment_intents.get(intent_id)
    if intent is None:
        abort(404)
    charges = [
        (charge, store.refunds_for_charge(charge["id"]))
        for charge in store.charges_for_intent(intent_id)
    ]
    events = [event for event in reversed(store.events.items) if payment_of(event) == intent_id]
    return await render_template(
        "payment.html",
        intent=intent,
        charges=charges,
        events=[(event, deliveries(event["id"])) for event in events],
    )


@blueprint.route("/events/<event_id>")
async def event(event_id: str) -> str:
    """An event: its JSON and its deliveries to each webhook endpoint."""
    found = state().store.events.get(event_id)
    if found is None:
        abort(404)
    return await render_template(
        "event.html", event=found, deliveries=deliveries(event_id), payment=payment_of(found)
    )


def _message(message_id: str) -> CaughtMessage:
    message = state().mailbox.get(message_id)
    if message is None:
        abort(404)
    return message


@blueprint.route("/mail/<message_id>")
async def message(message_id: str) -> str:
    """A caught message: its envelope and headers, the plain text, the HTML body in a frame."""
    return await render_template("message.html", message=_message(message_id))


@blueprint.route("/mail/<message_id>/html")
async def message_html(message_id: str) -> Response:
    """The message's HTML body alone, for the details page's sandboxed frame."""
    html = _message(message_id).html
    if html is None:
        abort(404)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = MESSAGE_CSP
    return response


@blueprint.route("/mail/<message_id>/source")
async def message_source(message_id: str) -> Response:
    """The message as it arrived, headers and all, as plain text."""
    response = Response(_message(message_id).raw, content_type="text/plain; charset=utf-8")
    response.headers["Content-Security-Policy"] = MESSAGE_CSP
    return response
