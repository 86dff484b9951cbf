"""Sandbox-only endpoints: health, faults, webhook endpoints, ConfirmationTokens' lifetime,
3D Secure, caught mail, receipts."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, abort, g, render_template, request

from bookshop.sandbox import api, errors, objects, routing
from bookshop.sandbox.errors import StripeError
from bookshop.sandbox.records import RequestContext
from bookshop.sandbox.runtime import state
from bookshop.sandbox.settings import SettingsError, parse_webhook

blueprint = Blueprint("control", __name__)


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response, encoded as the API encodes its own."""
    return Response(api.json_body(body), status=status, content_type="application/json")


def error_response(error: StripeError) -> Response:
    """Stripe's error body."""
    return json_response(error.body(request_id()), error.status)


def request_id() -> str:
    """This request's `req_...` id (made once per request)."""
    rid: str | None = g.get("request_id")
    if rid is None:
        rid = objects.new_id("req", 14)
        g.request_id = rid
    return rid


@blueprint.route("/_sandbox/health")
async def health() -> Response:
    """Readiness probe (no auth)."""
    return json_response({"status": "ok"})


async def _form() -> dict[str, Any]:
    if request.is_json:
        data = await request.get_json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.form
    return {key: form[key] for key in form}


def _require_secret_key() -> None:
    sandbox = state()
    kind = routing.authenticate(
        sandbox,
        routing.bearer_key(request.headers.get("Authorization", ""), list(request.args.items())),
    )
    if kind is not routing.KeyKind.SECRET:
        raise errors.publishable_key_not_allowed()


@blueprint.route("/_sandbox/faults", methods=["GET", "POST"])
async def faults() -> Response:
    """Read or change injected latency and failures (secret key)."""
    try:
        _require_secret_key()
        if request.method == "POST":
            data = await _form()
            try:
                state().faults.update(
                    data.get("latency_ms"), data.get("fail_rate"), data.get("fail_mode")
                )
            except ValueError as exc:
                raise errors.invalid_request(str(exc)) from None
    except StripeError as error:
        return error_response(error)
    return json_response(state().faults.as_dict())


@blueprint.route("/_sandbox/webhook_endpoints", methods=["GET", "POST", "DELETE"])
async def webhook_endpoints() -> Response:
    """List, add or remove (`DELETE ?url=`) webhook endpoints (secret key)."""
    sandbox = state()
    try:
        _require_secret_key()
        if request.method == "POST":
            data = await _form()
            url, secret = str(data.get("url", "")), str(data.get("secret", ""))
            try:
                endpoint = parse_webhook(f"{url}={secret}")
            except SettingsError as exc:
                raise errors.invalid_request(str(exc), param="url") from None
            sandbox.dispatcher.add_endpoint(endpoint)
        elif request.method == "DELETE":
            url = request.args.get("url", "")
            if not sandbox.dispatcher.remove_endpoint(url):
                raise errors.no_such("webhook endpoint", url, param="url")
    except StripeError as error:
        return error_response(error)
    return json_response(
        {"object": "list", "data": [{"url": e.url} for e in sandbox.dispatcher.endpoints]}
    )


@blueprint.route("/_sandbox/confirmation_tokens", methods=["GET", "POST"])
async def confirmation_tokens() -> Response:
    """Read or change (`lifetime_s`) how long new ConfirmationTokens last (secret key).

    Tokens made afterwards expire that many seconds after creation (0: at once), so a test can
    see an expired one refused; tokens made before keep their `expires_at`.
    """
    store = state().store
    try:
        _require_secret_key()
        if request.method == "POST":
            data = await _form()
            lifetime = str(data.get("lifetime_s", ""))
            if not (lifetime.isascii() and lifetime.isdigit()):
                raise errors.invalid_request(
                    "lifetime_s must be a whole number of seconds, 0 or more", param="lifetime_s"
                )
            store.confirmation_token_lifetime_s = int(lifetime)
    except StripeError as error:
        return error_response(error)
    return json_response({"lifetime_s": store.confirmation_token_lifetime_s})


@blueprint.route("/_sandbox/webhook_attempts")
async def webhook_attempts() -> Response:
    """Recent webhook delivery attempts, newest first (no auth: it holds no secrets)."""
    attempts = list(state().dispatcher.attempts)[::-1][:200]
    return json_response(
        {
            "object": "list",
            "data": [
                {
                    "event": a.event_id,
                    "type": a.event_type,
                    "url": a.url,
                    "attempt": a.number,
                    "at": int(a.at),
                    "status": a.status,
                    "error": a.error,
                    "ok": a.ok,
                }
                for a in attempts
            ],
        }
    )


@blueprint.route("/_sandbox/3ds/<intent_id>", methods=["POST"])
async def three_d_secure(intent_id: str) -> Response:
    """The challenge page's verdict, authorised by the client secret alone."""
    sandbox = state()
    try:
        data = await _form()
        intent = sandbox.store.payment_intent(intent_id)
        secret = data.get("client_secret")
        if not secret:
            raise errors.missing_param("client_secret")
        routing.check_client_secret(intent, str(secret))
        result = data.get("result")
        if result not in ("approve", "fail"):
            raise errors.invalid_request("result must be approve or fail", param="result")
        ctx = RequestContext(request_id(), None, f"{request.scheme}://{request.host}")
        intent = sandbox.store.resolve_three_d_secure(intent, result == "approve", ctx)
    except StripeError as error:
        return error_response(error)
    return json_response({key: intent[key] for key in objects.PUBLISHABLE_FIELDS})


@blueprint.route("/_sandbox/mail", methods=["GET", "DELETE"])
async def mail() -> Response:
    """The caught mail, newest first; `DELETE` forgets it all (no auth, like the dashboard)."""
    mailbox = state().mailbox
    if request.method == "DELETE":
        return json_response({"deleted": mailbox.clear()})
    return json_response([message.as_json() for message in mailbox.recent()])


@blueprint.route("/_sandbox/mail/<message_id>")
async def mail_message(message_id: str) -> Response:
    """One caught message."""
    message = state().mailbox.get(message_id)
    if message is None:
        return error_response(errors.no_such("message", message_id, param="id"))
    return json_response(message.as_json())


@blueprint.route("/receipts/<charge_id>")
async def receipt(charge_id: str) -> str:
    """The page a Charge's receipt_url points to."""
    charge = state().store.charges.get(charge_id)
    if charge is None or charge["status"] != "succeeded":
        abort(404)
    return await render_template("receipt.html", charge=charge)
