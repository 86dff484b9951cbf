"""The `/v1` API: Stripe's wire protocol (form params in, JSON out) over the store."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from quart import Blueprint, Response, g, request

from bookshop.sandbox import errors, params, store
from bookshop.sandbox.errors import StripeError
from bookshop.sandbox.idempotency import SavedResponse
from bookshop.sandbox.runtime import SandboxState, state
from bookshop.sandbox.store import JSON, CardDeclined, RequestContext

blueprint = Blueprint("api", __name__)


class KeyKind(Enum):
    """Which of the sandbox's two keys a request used."""

    SECRET = "secret"  # noqa: S105 - a label, not a secret
    PUBLISHABLE = "publishable"


@dataclass(frozen=True)
class Call:
    """One authenticated API request, decoded."""

    params: JSON
    key: str
    kind: KeyKind
    ctx: RequestContext

    @property
    def publishable(self) -> bool:
        """True when the caller used the publishable key (a browser, via Stripe.js)."""
        return self.kind is KeyKind.PUBLISHABLE

    def expand(self) -> set[str]:
        """The `expand[]` paths asked for."""
        value = self.params.get("expand")
        if isinstance(value, list):
            return {str(item) for item in value}
        return {str(value)} if isinstance(value, str) else set()


Action = Callable[[Call], JSON]


def json_response(body: JSON, status: int = 200) -> Response:
    """A JSON response (compact: `indent` would switch json to its slow pure-Python encoder)."""
    return Response(json.dumps(body), status=status, content_type="application/json")


def request_id() -> str:
    """This request's `req_...` id (made once per request)."""
    rid: str | None = g.get("request_id")
    if rid is None:
        rid = store.new_id("req", 14)
        g.request_id = rid
    return rid


def origin() -> str:
    """The sandbox's own origin as the caller reached it (for receipt and 3DS URLs)."""
    return f"{request.scheme}://{request.host}"


def bearer_key(form: list[tuple[str, str]]) -> str | None:
    """The API key from `Authorization` (Bearer or Basic) or, as Stripe.js sends it, `key`."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic" and credentials.strip():
        try:
            decoded = base64.b64decode(credentials.strip()).decode()
        except ValueError:
            return None
        return decoded.partition(":")[0] or None
    for name, value in form:
        if name == "key" and value:
            return value
    return None


def authenticate(sandbox: SandboxState, key: str | None) -> KeyKind:
    """Accept only the configured keys; anything else gets Stripe's 401."""
    if key is None:
        raise errors.no_api_key()
    settings = sandbox.settings
    if hmac.compare_digest(key.encode(), settings.secret_key.encode()):
        return KeyKind.SECRET
    if hmac.compare_digest(key.encode(), settings.publishable_key.encode()):
        return KeyKind.PUBLISHABLE
    raise errors.invalid_api_key(key)


def error_response(error: StripeError, call: Call | None) -> Response:
    """Stripe's error body; an embedded PaymentIntent is shown as this caller may see it."""
    if "payment_intent" in error.extra and call is not None:
        error.extra = dict(
            error.extra, payment_intent=intent_view(error.extra["payment_intent"], call, set())
        )
    return json_response(error.body(request_id()), error.status)


def decline_error(declined: CardDeclined, call: Call) -> StripeError:
    """402 card_error for a declined charge, carrying the charge, intent and method."""
    decline = declined.decline
    return StripeError(
        402,
        decline.message,
        type="card_error",
        code=decline.code,
        decline_code=decline.decline_code,
        param=decline.param,
        extra={
            "charge": declined.charge["id"],
            "payment_intent": declined.intent,
            "payment_method": declined.method,
        },
    )


async def handle(action: Action, *, publishable_ok: bool = False) -> Response:
    """Decode, authenticate, apply idempotency, run the action and render its result or error."""
    sandbox = state()
    raw = ""
    if request.method == "POST":
        data = await request.get_data(as_text=False, parse_form_data=False)
        raw = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
    if raw:
        pairs += parse_qsl(raw, keep_blank_values=True)
    try:
        key = bearer_key(pairs)
        kind = authenticate(sandbox, key)
        assert key is not None
        if kind is KeyKind.PUBLISHABLE and not publishable_ok:
            raise errors.publishable_key_not_allowed()
        pairs = [(name, value) for name, value in pairs if name != "key"]
        try:
            decoded = params.parse_pairs(pairs)
        except params.ParamsError as exc:
            raise errors.invalid_request(f"Invalid parameter name: {exc}", param=str(exc)) from None
    except StripeError as error:
        return error_response(error, None)
    idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    call = Call(decoded, key, kind, RequestContext(request_id(), idempotency_key, origin()))
    if idempotency_key is None:
        return _run(action, call)
    cache_key = (key, idempotency_key)
    fingerprint = (request.path, params.fingerprint(pairs))
    async with sandbox.idempotency.locked(cache_key):
        saved = sandbox.idempotency.get(cache_key)
        if saved is not None:
            if saved.request != fingerprint:
                return error_response(errors.idempotency_mismatch(idempotency_key), call)
            replay = Response(saved.body, status=saved.status, content_type="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = _run(action, call)
        body = await response.get_data(as_text=False)
        sandbox.idempotency.save(cache_key, SavedResponse(fingerprint, response.status_code, body))
        return response


def _run(action: Action, call: Call) -> Response:
    try:
        return json_response(action(call))
    except CardDeclined as declined:
        return error_response(decline_error(declined, call), call)
    except StripeError as error:
        return error_response(error, call)


def intent_view(intent: JSON, call: Call, expand: set[str]) -> JSON:
    """The PaymentIntent as this caller may see it, with expansions applied."""
    sandbox = state()
    if call.publishable:
        view = {key: intent[key] for key in store.PUBLISHABLE_FIELDS}
    else:
        view = dict(intent)
        if "latest_charge" in expand and intent["latest_charge"]:
            view["latest_charge"] = sandbox.store.charges.by_id[intent["latest_charge"]]
    if "payment_method" in expand and intent["payment_method"]:
        view["payment_method"] = sandbox.store.payment_methods.by_id[intent["payment_method"]]
    return view


def checked_intent(intent_id: str, call: Call) -> JSON:
    """The PaymentIntent, after checking a publishable caller's client secret."""
    intent = state().store.payment_intent(intent_id)
    if call.publishable:
        secret = call.params.get("client_secret")
        if not secret:
            raise errors.missing_param("client_secret")
        check_client_secret(intent, str(secret))
    return intent


def check_client_secret(intent: JSON, secret: str) -> None:
    """Stripe's answer to a wrong client secret reveals nothing about the right one."""
    if not hmac.compare_digest(secret.encode(), intent["client_secret"].encode()):
        raise StripeError(
            400,
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
            code="payment_intent_invalid_parameter",
        )


@blueprint.route("/v1/payment_intents", methods=["POST"])
async def create_payment_intent() -> Response:
    """Create a PaymentIntent."""

    def action(call: Call) -> JSON:
        intent = state().store.create_payment_intent(call.params, call.ctx)
        return intent_view(intent, call, call.expand())

    return await handle(action)


@blueprint.route("/v1/payment_intents", methods=["GET"])
async def list_payment_intents() -> Response:
    """List PaymentIntents, newest first (`expand[]=data.latest_charge` expands each item)."""

    def action(call: Call) -> JSON:
        page = store.paginate(state().store.payment_intents, call.params, "/v1/payment_intents")
        # Inside a list Stripe expands with a `data.` prefix on each path.
        each = {path.removeprefix("data.") for path in call.expand() if path.startswith("data.")}
        if each:
            page = {**page, "data": [intent_view(intent, call, each) for intent in page["data"]]}
        return page

    return await handle(action)


@blueprint.route("/v1/payment_intents/<intent_id>", methods=["GET"])
async def retrieve_payment_intent(intent_id: str) -> Response:
    """Retrieve a PaymentIntent (a browser may, with the client secret)."""

    def action(call: Call) -> JSON:
        return intent_view(checked_intent(intent_id, call), call, call.expand())

    return await handle(action, publishable_ok=True)


@blueprint.route("/v1/payment_intents/<intent_id>", methods=["POST"])
async def update_payment_intent(intent_id: str) -> Response:
    """Update a PaymentIntent."""

    def action(call: Call) -> JSON:
        sandbox = state()
        intent = sandbox.store.update_payment_intent(
            sandbox.store.payment_intent(intent_id), call.params, call.ctx
        )
        return intent_view(intent, call, call.expand())

    return await handle(action)


@blueprint.route("/v1/payment_intents/<intent_id>/confirm", methods=["POST"])
async def confirm_payment_intent(intent_id: str) -> Response:
    """Confirm a PaymentIntent: from the server, or from the browser with the client secret."""

    def action(call: Call) -> JSON:
        intent = checked_intent(intent_id, call)
        confirm_params = {k: v for k, v in call.params.items() if k != "client_secret"}
        intent = state().store.confirm_payment_intent(intent, confirm_params, call.ctx)
        return intent_view(intent, call, call.expand())

    return await handle(action, publishable_ok=True)


@blueprint.route("/v1/payment_intents/<intent_id>/cancel", methods=["POST"])
async def cancel_payment_intent(intent_id: str) -> Response:
    """Cancel a PaymentIntent."""

    def action(call: Call) -> JSON:
        sandbox = state()
        intent = sandbox.store.cancel_payment_intent(
            sandbox.store.payment_intent(intent_id), call.params, call.ctx
        )
        return intent_view(intent, call, call.expand())

    return await handle(action)


@blueprint.route("/v1/charges", methods=["GET"])
async def list_charges() -> Response:
    """List Charges, optionally of one PaymentIntent."""

    def action(call: Call) -> JSON:
        sandbox = state()
        intent_id = call.params.get("payment_intent")
        matches: Callable[[JSON], bool] | None = None
        if intent_id:
            matches = lambda charge: charge["payment_intent"] == intent_id  # noqa: E731
        return store.paginate(sandbox.store.charges, call.params, "/v1/charges", matches)

    return await handle(action)


@blueprint.route("/v1/charges/<charge_id>", methods=["GET"])
async def retrieve_charge(charge_id: str) -> Response:
    """Retrieve a Charge."""
    return await handle(lambda call: state().store.charge(charge_id))


@blueprint.route("/v1/payment_methods", methods=["POST"])
async def create_payment_method() -> Response:
    """Create a card PaymentMethod (Stripe.js does this with the publishable key)."""
    return await handle(
        lambda call: state().store.create_payment_method(call.params), publishable_ok=True
    )


@blueprint.route("/v1/payment_methods/<method_id>", methods=["GET"])
async def retrieve_payment_method(method_id: str) -> Response:
    """Retrieve a PaymentMethod."""

    def action(call: Call) -> JSON:
        method = state().store.payment_methods.get(method_id)
        if method is None:
            raise errors.no_such("payment_method", method_id, param="payment_method")
        return method

    return await handle(action)


@blueprint.route("/v1/refunds", methods=["POST"])
async def create_refund() -> Response:
    """Refund a charge in full or in part."""
    return await handle(lambda call: state().store.create_refund(call.params, call.ctx))


@blueprint.route("/v1/refunds", methods=["GET"])
async def list_refunds() -> Response:
    """List Refunds, newest first."""
    return await handle(
        lambda call: store.paginate(state().store.refunds, call.params, "/v1/refunds")
    )


@blueprint.route("/v1/refunds/<refund_id>", methods=["GET"])
async def retrieve_refund(refund_id: str) -> Response:
    """Retrieve a Refund."""
    return await handle(lambda call: state().store.refund(refund_id))


@blueprint.route("/v1/events", methods=["GET"])
async def list_events() -> Response:
    """List Events, newest first, optionally of one type."""

    def action(call: Call) -> JSON:
        event_type = call.params.get("type")
        matches: Callable[[JSON], bool] | None = None
        if isinstance(event_type, str) and event_type:
            if event_type.endswith(".*"):
                prefix = event_type[:-1]
                matches = lambda event: event["type"].startswith(prefix)  # noqa: E731
            else:
                matches = lambda event: event["type"] == event_type  # noqa: E731
        return store.paginate(state().store.events, call.params, "/v1/events", matches)

    return await handle(action)


@blueprint.route("/v1/events/<event_id>", methods=["GET"])
async def retrieve_event(event_id: str) -> Response:
    """Retrieve an Event."""

    def action(call: Call) -> JSON:
        event = state().store.events.get(event_id)
        if event is None:
            raise errors.no_such("event", event_id, param="id")
        return event

    return await handle(action)


@blueprint.route("/v1/<path:rest>", methods=["GET", "POST", "DELETE"])
async def unrecognized(rest: str) -> Response:
    """Stripe's 404 for an endpoint the sandbox does not have."""

    def action(call: Call) -> Any:
        raise errors.unrecognized_url(request.method, request.path)

    return await handle(action, publishable_ok=True)
