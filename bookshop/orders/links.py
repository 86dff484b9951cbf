"""The link that opens an order for its shopper, who has no account: the order's number, signed
with the shop's secret key, so only the shop could have written it."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from bookshop.config import Settings

# Signatures for order links are good for nothing else the secret key signs (the session cookie).
SALT = "bookshop.order-page"
# The order page's path, before the token: the shop's route and the emails' links both use it.
PATH = "/orders/"


def order_token(secret_key: str, number: str) -> str:
    """The token of an order's link: unguessable without the secret key, the same every time."""
    return URLSafeSerializer(secret_key, salt=SALT).dumps(number)


def number_from(secret_key: str, token: str) -> str | None:
    """The order number a token was signed for; None for a tampered, foreign or garbled one."""
    try:
        number = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except BadSignature:
        return None
    return number if isinstance(number, str) else None


def order_url(settings: Settings, number: str) -> str:
    """The order page's absolute URL, for an email: on SHOP_PUBLIC_URL (in development, the
    address the shop listens on)."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return f"{base}{PATH}{order_token(settings.secret_key, number)}"
