"""The `/v1` API: Stripe's wire protocol (form params in, JSON out) over the store.

Served as a plain ASGI app in front of the sandbox's Quart app, which gets every other path: an API
call has no use for Quart's request context, routing map, sessions or response objects, whose CPU
time the shop would miss in the benchmark, where the sandbox stands in for Stripe's servers but
shares the shop's cores (docs/performance.md).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from bookshop.sandbox import errors, objects, params, store, validation
from bookshop.sandbox.errors import StripeError
from bookshop.sandbox.faults import ASGIApp, Receive, Scope, Send
from bookshop.sandbox.idempotency import SavedResponse
from bookshop.sandbox.objects import API_VERSION, JSON
from bookshop.sandbox.runtime import SandboxState
from bookshop.sandbox.store import CardDeclined, RequestContext, Store

log = logging.getLogger(__name__)
# Larger bodies than any API call here needs are refused before they are read in full.
MAX_BODY_BYTES = 1024 * 1024
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account, "
        "X-Stripe-Client-User-Agent"
    ),
    "Access-Control-Expose-Headers": "Request-Id, Stripe-Version, Idempotent-Replayed",
    "Access-Control-Max-Age": "300",
}
_CORS = [(name.lower().encode(), value.encode()) for name, value in CORS_HEADERS.items()]


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

    def expand(self) -> list[str]:
        """The `expand[]` paths asked for (validation made sure they are a list of strings)."""
        value = self.params.get("expand")
        return [str(item) for item in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class ApiRequest:
    """An API request as read off the wire."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    origin: str  # the sandbox's own origin as the caller reached it (receipt and 3DS URLs)
    request_id: str = field(default_factory=lambda: objects.new_id("req", 14))


@dataclass
class ApiResponse:
    """Status, JSON body and any headers of its own (the API's common ones are added on send)."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    replayable: bool = True  # False: nothing is saved under the request's Idempotency-Key


Action = Callable[..., JSON]


@dataclass(frozen=True)
class Route:
    """What an endpoint does, and who may call it."""

    action: Action  # (sandbox, call, **path parameters) -> the response object
    publishable_ok: bool


ROUTES: dict[validation.Endpoint, Route] = {}


def route(method: str, path: str, *, publishable_ok: bool = False) -> Callable[[Action], Action]:
    """Serve one of validation.ENDPOINTS; each `{name}` in its path is passed by that name."""
    endpoint = validation.endpoint(method, path)

    def register(action: Action) -> Action:
        ROUTES[endpoint] = Route(action, publishable_ok)
        return action

    return register


def bearer_key(authorization: str, form: list[tuple[str, str]]) -> str | None:
    """The API key from `Authorization` (Bearer or Basic) or, as Stripe.js sends it, `key`."""
    scheme, _, credentials = authorization.partition(" ")
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


def json_body(body: Any) -> bytes:
    """Compact JSON (`indent` would switch json to its slow pure-Python encoder)."""
    return json.dumps(body).encode()


class Api:
    """`/v1/*` for one sandbox; any other path goes on to `app`."""

    def __init__(self, app: ASGIApp, sandbox: SandboxState) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        server = scope.get("server")
        host = headers.get("host") or (f"{server[0]}:{server[1]}" if server else "localhost")
        try:
            body = await _read_body(receive, headers)
        except ClientGone:  # nobody would read the answer, and a cut-off form must not act
            return
        request = ApiRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body or b"",
            origin=f"{scope['scheme']}://{host}",
        )
        if body is None:
            response = self.error(errors.body_too_large(MAX_BODY_BYTES), None, request)
        elif request.method == "OPTIONS":  # a browser's CORS preflight for Stripe.js
            response = ApiResponse(204, b"")
        else:
            response = await self.respond(request)
        version = headers.get("stripe-version", API_VERSION)
        response_headers = [
            *response.headers,
            *_CORS,
            (b"request-id", request.request_id.encode()),
            (b"stripe-version", version.encode("latin-1")),
            (b"cache-control", b"no-cache, no-store"),
        ]
        if response.body:  # a 204 (the preflight) has neither
            response_headers.append((b"content-length", str(len(response.body)).encode()))
            response_headers.append((b"content-type", b"application/json"))
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": response.body})

    async def respond(self, request: ApiRequest) -> ApiResponse:
        """Decode, authenticate, apply idempotency, run the endpoint and render its result.

        A fault of the sandbox's own is answered as Stripe answers one of its own (500 api_error),
        which stripe-python reads, never as a bare traceback.
        """
        try:
            return await self._respond(request)
        except Exception:
            log.exception("Sandbox fault answering %s %s", request.method, request.path)
            return self.error(errors.api_error(), None, request)

    async def _respond(self, request: ApiRequest) -> ApiResponse:
        found = validation.match(request.method, request.path)
        pairs = parse_qsl(request.query, keep_blank_values=True)
        if request.method == "POST" and request.body:
            pairs += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        try:
            if found is None and request.method not in ("GET", "HEAD", "POST", "DELETE"):
                raise errors.unrecognized_url(request.method, request.path)
            key = bearer_key(request.headers.get("authorization", ""), pairs)
            kind = authenticate(self.sandbox, key)
            assert key is not None
            if found is None:
                raise errors.unrecognized_url(request.method, request.path)
            endpoint, path_params = found
            if kind is KeyKind.PUBLISHABLE and not ROUTES[endpoint].publishable_ok:
                raise errors.publishable_key_not_allowed()
            pairs = [(name, value) for name, value in pairs if name != "key"]
            try:
                decoded = params.parse_pairs(pairs)
            except params.ParamsError as exc:
                raise errors.invalid_param(str(exc), param=exc.name) from None
            decoded = validation.check(endpoint, decoded, publishable=kind is KeyKind.PUBLISHABLE)
            validation.check_supported(endpoint, decoded)
        except StripeError as error:
            # Refused before it ran: Stripe saves no result under the Idempotency-Key for a
            # request that failed validation, so a corrected retry may use the same key.
            return self.error(error, None, request)
        idempotency_key = (
            request.headers.get("idempotency-key") if request.method == "POST" else None
        )
        ctx = RequestContext(request.request_id, idempotency_key, request.origin)
        call = Call(decoded, key, kind, ctx)
        if idempotency_key is None:
            return self.run(endpoint, path_params, call, request)
        cache_key = (key, idempotency_key)
        fingerprint = (request.path, params.fingerprint(pairs))
        idempotency = self.sandbox.idempotency
        async with idempotency.locked(cache_key):
            saved = idempotency.get(cache_key)
            if saved is not None:
                if saved.request != fingerprint:
                    return self.error(errors.idempotency_mismatch(idempotency_key), call, request)
                return ApiResponse(saved.status, saved.body, [(b"idempotent-replayed", b"true")])
            response = self.run(endpoint, path_params, call, request)
            if response.replayable:
                idempotency.save(
                    cache_key, SavedResponse(fingerprint, response.status, response.body)
                )
            return response

    def run(
        self,
        endpoint: validation.Endpoint,
        path_params: dict[str, str],
        call: Call,
        request: ApiRequest,
    ) -> ApiResponse:
        """The endpoint's object, expanded as asked, or the error it raised, as a response."""
        try:
            result = ROUTES[endpoint].action(self.sandbox, call, **path_params)
            for path in call.expand():
                result = expanded(self.sandbox.store, result, path.split("."), path)
            return ApiResponse(200, json_body(result))
        except CardDeclined as declined:
            return self.error(decline_error(declined, call), call, request)
        except StripeError as error:
            return self.error(error, call, request)

    def error(self, error: StripeError, call: Call | None, request: ApiRequest) -> ApiResponse:
        """Stripe's error body; an embedded PaymentIntent is shown as this caller may see it."""
        if "payment_intent" in error.extra and call is not None:
            view = intent_view(error.extra["payment_intent"], call)
            error.extra = dict(error.extra, payment_intent=view)
        body = json_body(error.body(request.request_id))
        return ApiResponse(error.status, body, replayable=not isinstance(error, errors.ParamError))


class ClientGone(Exception):
    """The client disconnected before it had sent the whole request."""


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes | None:
    """The whole request body, or None when it is larger than MAX_BODY_BYTES."""
    declared = headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        too_large = too_large or size > MAX_BODY_BYTES
        if not too_large:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return None if too_large else b"".join(chunks)


def _found(obj: JSON | None, kind: str, object_id: str, *, param: str) -> JSON:
    """The object looked up, or Stripe's 404 for it."""
    if obj is None:
        raise errors.no_such(kind, object_id, param=param)
    return obj


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


def intent_view(intent: JSON, call: Call) -> JSON:
    """The PaymentIntent as this caller may see it."""
    if call.publishable:
        return {key: intent[key] for key in objects.PUBLISHABLE_FIELDS}
    return intent


def expanded(store: Store, obj: JSON, path: list[str], asked: str) -> JSON:
    """A copy of `obj` with the id at `path` replaced by its object (the original untouched).

    validation checked the path against stripe-python's expandable fields; a field the caller
    may not see (in a publishable view) or that holds nothing stays as it is.
    """
    key, rest = path[0], path[1:]
    value = obj.get(key)
    if key == "data" and isinstance(value, list):  # each item of a list
        items = [expanded(store, item, rest, asked) for item in value] if rest else value
        return {**obj, "data": items}
    if key == "refunds" and obj.get("object") == "charge":
        # Left off a Charge unless asked for, as Stripe has done since API version 2022-11-15.
        return {**obj, "refunds": store.charge_refunds(obj["id"])}
    if isinstance(value, str):
        found = store.find(value)
        if found is None:
            # validation refused the kinds the sandbox keeps none of; this is a last guard, as an
            # id where an object was asked for would pass unnoticed.
            raise errors.invalid_request(f"The sandbox cannot expand {asked}: it keeps no {value}.")
        value = found
    if isinstance(value, dict) and rest:
        value = expanded(store, value, rest, asked)
    return {**obj, key: value} if key in obj else obj


def checked_intent(sandbox: SandboxState, intent_id: str, call: Call) -> JSON:
    """The PaymentIntent, after checking a publishable caller's client secret."""
    intent = sandbox.store.payment_intent(intent_id)
    if call.publishable:
        secret = call.params.get("client_secret")
        if not secret:
            raise errors.missing_param("client_secret")
        check_client_secret(intent, str(secret))
    return intent


@route("POST", "/v1/payment_intents")
def create_payment_intent(sandbox: SandboxState, call: Call) -> JSON:
    """Create a PaymentIntent."""
    return intent_view(sandbox.store.create_payment_intent(call.params, call.ctx), call)


@route("GET", "/v1/payment_intents")
def list_payment_intents(sandbox: SandboxState, call: Call) -> JSON:
    """List PaymentIntents, newest first."""
    return store.paginate(sandbox.store.payment_intents, call.params, "/v1/payment_intents")


@route("GET", "/v1/payment_intents/{intent}", publishable_ok=True)
def retrieve_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Retrieve a PaymentIntent (a browser may, with the client secret)."""
    return intent_view(checked_intent(sandbox, intent, call), call)


@route("POST", "/v1/payment_intents/{intent}")
def update_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Update a PaymentIntent."""
    updated = sandbox.store.update_payment_intent(
        sandbox.store.payment_intent(intent), call.params, call.ctx
    )
    return intent_view(updated, call)


@route("POST", "/v1/payment_intents/{intent}/confirm", publishable_ok=True)
def confirm_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Confirm a PaymentIntent: from the server, or from the browser with the client secret."""
    checked = checked_intent(sandbox, intent, call)
    confirmed = sandbox.store.confirm_payment_intent(checked, call.params, call.ctx)
    return intent_view(confirmed, call)


@route("POST", "/v1/payment_intents/{intent}/cancel")
def cancel_payment_intent(sandbox: SandboxState, call: Call, intent: str) -> JSON:
    """Cancel a PaymentIntent."""
    canceled = sandbox.store.cancel_payment_intent(
        sandbox.store.payment_intent(intent), call.params, call.ctx
    )
    return intent_view(canceled, call)


@route("GET", "/v1/charges")
def list_charges(sandbox: SandboxState, call: Call) -> JSON:
    """List Charges, optionally of one PaymentIntent."""
    intent_id = call.params.get("payment_intent")
    matches: Callable[[JSON], bool] | None = None
    if intent_id:
        matches = lambda charge: charge["payment_intent"] == intent_id  # noqa: E731
    return store.paginate(sandbox.store.charges, call.params, "/v1/charges", matches)


@route("GET", "/v1/charges/{charge}")
def retrieve_charge(sandbox: SandboxState, call: Call, charge: str) -> JSON:
    """Retrieve a Charge."""
    return sandbox.store.charge(charge)


@route("POST", "/v1/payment_methods", publishable_ok=True)
def create_payment_method(sandbox: SandboxState, call: Call) -> JSON:
    """Create a card PaymentMethod (Stripe.js does this with the publishable key)."""
    return sandbox.store.create_payment_method(call.params)


@route("GET", "/v1/payment_methods/{payment_method}")
def retrieve_payment_method(sandbox: SandboxState, call: Call, payment_method: str) -> JSON:
    """Retrieve a PaymentMethod."""
    method = sandbox.store.payment_methods.get(payment_method)
    return _found(method, "payment_method", payment_method, param="payment_method")


@route("POST", "/v1/refunds")
def create_refund(sandbox: SandboxState, call: Call) -> JSON:
    """Refund a charge in full or in part."""
    return sandbox.store.create_refund(call.params, call.ctx)


@route("GET", "/v1/refunds")
def list_refunds(sandbox: SandboxState, call: Call) -> JSON:
    """List Refunds, newest first, optionally of one Charge or PaymentIntent."""
    wanted = {key: call.params[key] for key in ("charge", "payment_intent") if key in call.params}
    matches: Callable[[JSON], bool] | None = None
    if wanted:
        matches = lambda refund: all(refund[k] == v for k, v in wanted.items())  # noqa: E731
    return store.paginate(sandbox.store.refunds, call.params, "/v1/refunds", matches)


@route("GET", "/v1/refunds/{refund}")
def retrieve_refund(sandbox: SandboxState, call: Call, refund: str) -> JSON:
    """Retrieve a Refund."""
    return sandbox.store.refund(refund)


@route("GET", "/v1/events")
def list_events(sandbox: SandboxState, call: Call) -> JSON:
    """List Events, newest first, optionally of one type (`*` a wildcard) or of several."""
    event_type = call.params.get("type")
    types = call.params.get("types")
    matches: Callable[[JSON], bool] | None = None
    if event_type is not None and types is not None:
        # Stripe's reference: "You may pass either `type` or `types`, but not both."
        raise errors.invalid_param("You may pass either type or types, but not both.")
    if types is not None:
        wanted = set(types)
        matches = lambda event: event["type"] in wanted  # noqa: E731
    elif event_type is not None:
        if event_type.endswith(".*"):
            prefix = event_type[:-1]
            matches = lambda event: event["type"].startswith(prefix)  # noqa: E731
        else:
            matches = lambda event: event["type"] == event_type  # noqa: E731
    return store.paginate(sandbox.store.events, call.params, "/v1/events", matches)


@route("GET", "/v1/events/{id}")
def retrieve_event(sandbox: SandboxState, call: Call, id: str) -> JSON:
    """Retrieve an Event."""
    return _found(sandbox.store.events.get(id), "event", id, param="id")
