"""The `/v1` API: Stripe's wire protocol (form params in, JSON out) over the store.

`endpoints` says what each endpoint does and `routing` who may call it; this serves them:
decoding, authentication, validation, idempotency, expansion and Stripe's errors.

Served as a plain ASGI app in front of the sandbox's Quart app, which gets every other path: an API
call has no use for Quart's request context, routing map, sessions or response objects, whose CPU
time the shop would miss in the benchmark, where the sandbox stands in for Stripe's servers but
shares the shop's cores (docs/performance.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

# Imported for its `@route`s: every endpoint is in ROUTES before a request arrives.
from bookshop.sandbox import (
    endpoints,  # noqa: F401
    errors,
    objects,
    params,
    validation,
)
from bookshop.sandbox.errors import StripeError
from bookshop.sandbox.faults import ASGIApp, Receive, Scope, Send
from bookshop.sandbox.idempotency import SavedResponse
from bookshop.sandbox.objects import API_VERSION, JSON
from bookshop.sandbox.routing import ROUTES as ROUTES
from bookshop.sandbox.routing import Call, KeyKind, authenticate, bearer_key, intent_view
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
