"""The shop's defences on every request and response: CSRF, headers, size and rate limits, and
each route's own policy, declared where the route is defined (`@policy(...)`)."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from quart import Quart, Response, g, request
from werkzeug.exceptions import Forbidden, RequestHeaderFieldsTooLarge, RequestURITooLarge
from werkzeug.routing import RequestRedirect

from bookshop.config import Settings
from bookshop.rate_limits import Counter, Limit
from bookshop.session import csrf_secret, set_csrf_secret

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 2048
# Hypercorn's h11 limit only bounds headers that arrive in pieces; this bounds them all.
MAX_HEADER_BYTES = 16 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_SECRET_BYTES = 32
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The rate limits a route may count against: paying (each a Stripe charge, what card testers
# hammer), reading a result (each a Stripe read) and staff signing in (what password guessers
# hammer: limited per address and per account, whichever address the guesses come from).
PAY, STATUS, LOGIN = "pay", "status", "login"
LOGIN_RATE_CLIENT, LOGIN_RATE_ACCOUNT = "20/minute", "10/minute"
V = TypeVar("V", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    """How the shop treats one route's requests and responses."""

    # A shopper's own page (cart, address, checkout, result): never cached, never referred.
    private: bool = False
    # Carries a PaymentIntent's client secret, which Stripe.js needs as it is (it cannot be
    # masked like the CSRF token), beside request input: never compressed, so BREACH cannot
    # read it (README, "Compression and caching").
    secret: bool = False
    # PAY or STATUS: the configured rate limits it counts against.
    rate_limit: str | None = None
    # Signed another way (Stripe's webhooks): a CSRF token could never come with it.
    csrf_exempt: bool = False
    # The back office's: the staff role a route needs ("staff" or "owner"), None for a shopper's.
    role: str | None = None


def policy(
    *,
    private: bool = False,
    secret: bool = False,
    rate_limit: str | None = None,
    csrf_exempt: bool = False,
    role: str | None = None,
) -> Callable[[V], V]:
    """Declare a route's policy on its view, beneath the route decorator. Every route declares
    one (the app refuses to start otherwise), so a new route never silently gets none."""

    def declare(view: V) -> V:
        declared = Policy(private, secret, rate_limit, csrf_exempt, role)
        view.policy = declared  # type: ignore[attr-defined]
        return view

    return declare


def policy_of(view: Callable[..., Any]) -> Policy | None:
    """The policy a view declares, if it declares one."""
    declared = getattr(view, "policy", None)
    return declared if isinstance(declared, Policy) else None


def policies(app: Quart) -> dict[str, Policy]:
    """Each endpoint's declared policy; RuntimeError names a route that declares none."""
    found = {}
    for endpoint, view in app.view_functions.items():
        declared = policy_of(view)
        if declared is None:
            raise RuntimeError(f"route {endpoint!r} declares no policy: add @policy(...) to it")
        found[endpoint] = declared
    return found


def csrf_token() -> str:
    """This session's CSRF token, masked afresh for each response (the same all through it)."""
    masked: str | None = g.get("csrf_masked")
    if masked is None:
        masked = g.csrf_masked = mask_token(session_secret())
    return masked


def session_secret() -> bytes:
    """The session's CSRF secret, created on first use; pages only ever carry it masked."""
    stored = csrf_secret()
    secret = _decode(stored) if stored is not None else None
    if secret is None or len(secret) != CSRF_SECRET_BYTES:
        secret = secrets.token_bytes(CSRF_SECRET_BYTES)
        set_csrf_secret(_encode(secret))
    return secret


def mask_token(secret: bytes) -> str:
    """The secret XORed with a random pad, pad first: each response carries different bytes, so
    a compressed page tells BREACH nothing about it (README, "Compression and caching")."""
    pad = secrets.token_bytes(len(secret))
    return _encode(pad + _xor(pad, secret))


def unmask_token(sent: str) -> bytes | None:
    """The secret a masked token carries; an unmasked one (on a page served before masking) as
    it is; None for anything else."""
    raw = _decode(sent)
    if raw is not None and len(raw) == 2 * CSRF_SECRET_BYTES:
        return _xor(raw[:CSRF_SECRET_BYTES], raw[CSRF_SECRET_BYTES:])
    if raw is not None and len(raw) == CSRF_SECRET_BYTES:
        return raw
    return None


def _xor(pad: bytes, data: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(pad, data, strict=True))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # not base64, or not ASCII
        return None


async def client_key() -> str:
    """The client's address: the connecting one, or the one a trusted proxy names
    (`bookshop.proxies`); X-Forwarded-For from anyone else is not believed."""
    return request.remote_addr or "unknown"


async def account_key() -> str:
    """The staff account a sign-in names: guesses at one account count together."""
    email: str = (await request.form).get("email", "")
    return "account:" + email.strip().lower()[:254]


async def everyone_key() -> str:
    """One bucket for all clients: caps the whole shop when many addresses attack at once."""
    return "everyone"


def content_security_policy(settings: Settings) -> str:
    """The CSP: the shop's own origin plus exactly what Stripe.js (or the sandbox) needs."""
    if settings.sandbox:
        parts = urlsplit(settings.stripe_js_url)
        stripe_origin = f"{parts.scheme}://{parts.netloc}"
        scripts = frames = connect = stripe_origin
    else:
        scripts = "https://js.stripe.com https://*.js.stripe.com"
        frames = "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
        connect = "https://api.stripe.com"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {scripts}",
            f"frame-src {frames}",
            f"connect-src 'self' {connect}",
            "img-src 'self' data:",
            "style-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: Settings, https: bool) -> dict[str, str]:
    """The headers every response carries; the private pages change two of them."""
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def install(app: Quart, settings: Settings) -> None:
    """Attach CSRF checks, limits, headers and rate limits to the app."""
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        MAX_FORM_PARTS=50,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Production runs behind HTTPS; plain http is for development on this machine.
        SESSION_COOKIE_SECURE=settings.env == "production",
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
    declared = policies(app)
    csrf_exempt = {endpoint for endpoint, each in declared.items() if each.csrf_exempt}
    private = {endpoint for endpoint, each in declared.items() if each.private}

    @app.before_request
    async def check_request() -> Response | None:
        if len(request.query_string) > MAX_QUERY_BYTES:
            raise RequestURITooLarge("That address is too long.")
        if (
            sum(len(name) + len(value) for name, value in request.headers.items())
            > MAX_HEADER_BYTES
        ):
            raise RequestHeaderFieldsTooLarge("That request's headers are too large.")
        moved = request.routing_exception
        if isinstance(moved, RequestRedirect):
            return on_public_url(moved, settings)
        if request.method in UNSAFE_METHODS:
            # The body is read (at most MAX_BODY_BYTES) before any refusal: Hypercorn closes a
            # connection whose body was left unread without saying so, and a proxy sending the
            # next shopper's POST down it answers them 502.
            await request.get_data()
        # Unknown routes and wrong methods get their own 404/405 first.
        routed = moved is None
        if routed and request.method in UNSAFE_METHODS and request.endpoint not in csrf_exempt:
            await check_csrf()
        return None

    every_response = {https: security_headers(settings, https) for https in (False, True)}

    @app.after_request
    async def add_security_headers(response: Response) -> Response:
        response.headers.update(every_response[request.scheme == "https"])
        if request.endpoint in private:
            # A client secret in the URL must never travel to another site in a Referer.
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        return response

    if not settings.rate_limits:
        return
    counter = Counter(settings.redis_url)
    app.after_serving(counter.close)
    limits = {
        PAY: [
            Limit.parse(settings.rate_limit_pay, client_key),
            Limit.parse(settings.rate_limit_pay_all, everyone_key),
        ],
        STATUS: [Limit.parse(settings.rate_limit_status, client_key)],
        LOGIN: [
            Limit.parse(LOGIN_RATE_CLIENT, client_key),
            Limit.parse(LOGIN_RATE_ACCOUNT, account_key),
        ],
    }
    for endpoint, each in declared.items():
        if each.rate_limit is not None:
            limit_endpoint(app, endpoint, counter, each.rate_limit, limits[each.rate_limit])


def on_public_url(moved: RequestRedirect, settings: Settings) -> Response:
    """The routing's redirect (merged slashes, an added trailing slash) to the same path on
    SHOP_PUBLIC_URL, or to the path alone: Werkzeug builds it on the Host header, which anyone
    can forge. One leading slash, so the path can never read as another host (`//evil.example`)."""
    parts = urlsplit(moved.new_url)
    location = (settings.public_url or "") + "/" + parts.path.lstrip("/")
    if parts.query:
        location += "?" + parts.query
    return Response("", status=moved.code, headers={"Location": location})


def uncompressed_endpoints(app: Quart) -> frozenset[str]:
    """The endpoints whose responses carry a secret that cannot be masked."""
    return frozenset(endpoint for endpoint, each in policies(app).items() if each.secret)


async def check_csrf() -> None:
    """Refuse a state-changing request without this session's token (header or form field)."""
    expected = csrf_secret()
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = (await request.form).get(CSRF_FIELD)
    secret = unmask_token(sent) if sent else None
    known = _decode(expected) if expected is not None else None
    if secret is None or known is None or not hmac.compare_digest(secret, known):
        raise Forbidden(
            "This form has expired or didn't come from our shop. Reload the page and try again."
        )


def limit_endpoint(
    app: Quart, endpoint: str, counter: Counter, name: str, limits: list[Limit]
) -> None:
    """Rate-limit one endpoint of this app only (views are shared between apps, so wrap them).
    Limits are counted by their name, not the endpoint: every pay step counts against one."""
    view = cast(Callable[..., Awaitable[Any]], app.view_functions[endpoint])

    @wraps(view)
    async def limited(*args: Any, **kwargs: Any) -> Any:
        await counter.check(name, limits)
        return await view(*args, **kwargs)

    app.view_functions[endpoint] = limited
