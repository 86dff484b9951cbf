"""The shop's defences on every request and response: CSRF, headers, size and rate limits."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import Any, cast
from urllib.parse import urlsplit

from quart import Quart, Response, g, request, session
from quart_rate_limiter import RateLimit, RateLimiter, rate_limit
from werkzeug.exceptions import Forbidden, RequestHeaderFieldsTooLarge, RequestURITooLarge

from bookshop.config import RATE, Settings

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 2048
# Hypercorn's h11 limit only bounds headers that arrive in pieces; this bounds them all.
MAX_HEADER_BYTES = 16 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_SECRET_BYTES = 32
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Signed by Stripe instead: a CSRF token could never be sent with it.
CSRF_EXEMPT = frozenset({"webhooks.stripe_webhook"})
# Pages that carry a client secret, a receipt or an address: never cached, never referred elsewhere.
PRIVATE_ENDPOINTS = frozenset(
    {
        "cart.page",
        "checkout.address",
        "checkout.save_delivery_address",
        "checkout.cart",
        "checkout.prepare_cart_payment",
        "checkout.page",
        "checkout.change_quantity",
        "checkout.prepare_payment",
        "checkout.payment_status",
        "checkout.success",
    }
)
# Their pages carry a PaymentIntent's client secret, which Stripe.js needs as it is (it cannot be
# masked like the CSRF token), beside input from the request: never compressed, so BREACH cannot
# read it (README, "Compression and caching").
UNMASKABLE_SECRET_BLUEPRINTS = frozenset({"checkout"})
# Creating checkouts (each one a PaymentIntent) and polling results is what card testers hammer.
CHECKOUT_ENDPOINTS = (
    "checkout.cart",
    "checkout.prepare_cart_payment",
    "checkout.page",
    "checkout.change_quantity",
    "checkout.prepare_payment",
)
STATUS_ENDPOINTS = ("checkout.payment_status", "checkout.success")
PERIODS = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
}


def csrf_token() -> str:
    """This session's CSRF token, masked afresh for each response (the same all through it)."""
    masked: str | None = g.get("csrf_masked")
    if masked is None:
        masked = g.csrf_masked = mask_token(session_secret())
    return masked


def session_secret() -> bytes:
    """The session's CSRF secret, created on first use; pages only ever carry it masked."""
    stored = session.get("csrf")
    secret = _decode(stored) if isinstance(stored, str) else None
    if secret is None or len(secret) != CSRF_SECRET_BYTES:
        secret = secrets.token_bytes(CSRF_SECRET_BYTES)
        session["csrf"] = _encode(secret)
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


def parse_rate(text: str, key_function: Callable[[], Awaitable[str]]) -> RateLimit:
    """'30/minute' -> a RateLimit of 30 requests a minute, counted per key."""
    match = RATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate like 30/minute")
    return RateLimit(int(match.group(1)), PERIODS[match.group(2)], key_function)


async def client_key() -> str:
    """The connecting address: X-Forwarded-For is not trusted, since anyone can send it."""
    return request.remote_addr or "unknown"


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

    @app.before_request
    async def check_request() -> None:
        if len(request.query_string) > MAX_QUERY_BYTES:
            raise RequestURITooLarge("That address is too long.")
        if (
            sum(len(name) + len(value) for name, value in request.headers.items())
            > MAX_HEADER_BYTES
        ):
            raise RequestHeaderFieldsTooLarge("That request's headers are too large.")
        # Unknown routes and wrong methods get their own 404/405 first.
        routed = request.routing_exception is None
        if routed and request.method in UNSAFE_METHODS and request.endpoint not in CSRF_EXEMPT:
            await check_csrf()

    every_response = {https: security_headers(settings, https) for https in (False, True)}

    @app.after_request
    async def add_security_headers(response: Response) -> Response:
        response.headers.update(every_response[request.scheme == "https"])
        if request.endpoint in PRIVATE_ENDPOINTS:
            # A client secret in the URL must never travel to another site in a Referer.
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        return response

    RateLimiter(app, enabled=settings.rate_limits)
    checkout_limits = [
        parse_rate(settings.rate_limit_checkout, client_key),
        parse_rate(settings.rate_limit_checkout_all, everyone_key),
    ]
    status_limits = [parse_rate(settings.rate_limit_status, client_key)]
    for endpoint in CHECKOUT_ENDPOINTS:
        limit_endpoint(app, endpoint, checkout_limits)
    for endpoint in STATUS_ENDPOINTS:
        limit_endpoint(app, endpoint, status_limits)


async def check_csrf() -> None:
    """Refuse a state-changing request without this session's token (header or form field)."""
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = (await request.form).get(CSRF_FIELD)
    secret = unmask_token(sent) if sent else None
    known = _decode(expected) if isinstance(expected, str) else None
    if secret is None or known is None or not hmac.compare_digest(secret, known):
        raise Forbidden(
            "This form has expired or didn't come from our shop. Reload the page and try again."
        )


def limit_endpoint(app: Quart, endpoint: str, limits: list[RateLimit]) -> None:
    """Rate-limit one endpoint of this app only (views are shared between apps, so wrap them)."""
    view = cast(Callable[..., Awaitable[Any]], app.view_functions[endpoint])

    @wraps(view)
    async def limited(*args: Any, **kwargs: Any) -> Any:
        return await view(*args, **kwargs)

    app.view_functions[endpoint] = rate_limit(limits=limits)(limited)
