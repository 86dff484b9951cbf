"""Who may call what: the API's keys, each endpoint's handler, and what a browser may see.

Endpoints register themselves here (`@route`, in `endpoints`); `api` serves them.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from bookshop.sandbox import errors, objects, validation
from bookshop.sandbox.errors import StripeError
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.records import RequestContext
from bookshop.sandbox.runtime import SandboxState


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


def intent_view(intent: JSON, call: Call) -> JSON:
    """The PaymentIntent as this caller may see it."""
    if call.publishable:
        return {key: intent[key] for key in objects.PUBLISHABLE_FIELDS}
    return intent


def checked_intent(sandbox: SandboxState, intent_id: str, call: Call) -> JSON:
    """The PaymentIntent, after checking a publishable caller's client secret."""
    intent = sandbox.store.payment_intent(intent_id)
    if call.publishable:
        secret = call.params.get("client_secret")
        if not secret:
            raise errors.missing_param("client_secret")
        check_client_secret(intent, str(secret))
    return intent


def found(obj: JSON | None, kind: str, object_id: str, *, param: str) -> JSON:
    """The object looked up, or Stripe's 404 for it."""
    if obj is None:
        raise errors.no_such(kind, object_id, param=param)
    return obj
