"""Stripe's error bodies and the HTTP statuses that make stripe-python raise the right class."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
PUBLISHABLE_KEY_MESSAGE = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


class StripeError(Exception):
    """An API error: raised anywhere in a handler, rendered as Stripe's JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: JSON | None = None,
        doc_url: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.doc_url = doc_url

    def body(self, request_id: str | None) -> JSON:
        """The `{"error": {...}}` body, keys as Stripe sends them (absent ones left out)."""
        error: JSON = {}
        for key, value in (
            ("code", self.code),
            ("decline_code", self.decline_code),
            ("doc_url", doc_url(self.code) if self.doc_url and self.code else None),
            ("message", self.message),
            ("param", self.param),
        ):
            if value is not None:
                error[key] = value
        error.update(self.extra)
        if request_id is not None and self.status not in (401,):
            error["request_log_url"] = request_log_url(request_id)
        error["type"] = self.type
        return {"error": error}


class ParamError(StripeError):
    """A request refused for its parameters, before it ran: Stripe saves no result for it under
    the Idempotency-Key, so a corrected retry may use the same key."""


def doc_url(code: str) -> str:
    """Stripe's documentation page for an error code."""
    return f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


def request_log_url(request_id: str) -> str:
    """Where the Dashboard would show this request's log."""
    return f"https://dashboard.stripe.com/test/logs/{request_id}?t=0"


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> StripeError:
    """400 invalid_request_error (stripe.InvalidRequestError)."""
    return StripeError(400, message, param=param, code=code)


def invalid_param(message: str, *, param: str | None = None, code: str | None = None) -> ParamError:
    """400 invalid_request_error for a parameter's value (nothing saved for idempotency)."""
    return ParamError(400, message, param=param, code=code)


def missing_param(param: str) -> ParamError:
    """400 parameter_missing."""
    return ParamError(
        400, f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def invalid_integer(param: str, value: object) -> ParamError:
    """400 parameter_invalid_integer."""
    return ParamError(
        400, f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
    )


def invalid_enum(param: str, allowed: tuple[str, ...]) -> ParamError:
    """400 for a value outside an enumeration: `must be one of a, b, or c`."""
    if len(allowed) <= 2:
        listed = " or ".join(allowed)
    else:
        listed = f"{', '.join(allowed[:-1])}, or {allowed[-1]}"
    return ParamError(400, f"Invalid {param}: must be one of {listed}", param=param)


def unknown_param(param: str) -> ParamError:
    """400 parameter_unknown, for a name the endpoint does not take (at any depth)."""
    return ParamError(
        400, f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def empty_param(param: str) -> ParamError:
    """400 parameter_invalid_empty: `""` unsets a parameter, and this one cannot be unset."""
    return ParamError(
        400,
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from "
        "your request or supply a non-empty value.",
        param=param,
        code="parameter_invalid_empty",
    )


def invalid_boolean(param: str, value: object) -> ParamError:
    """400 for anything but `true` or `false` where a boolean goes."""
    return ParamError(400, f"Invalid boolean: {value}", param=param)


def invalid_string(param: str, value: object) -> ParamError:
    """400 for a hash or an array where a string goes (shown as Stripe shows it, as JSON)."""
    return ParamError(400, f"Invalid string: {value}", param=param)


def string_too_long(param: str, value: str, limit: int) -> ParamError:
    """400 for a string over its limit; a long value is shown by its two ends, as Stripe does."""
    shown = value if len(value) <= 20 else f"{value[:10]}...{value[-10:]}"
    return ParamError(
        400, f"Invalid string: {shown}; must be at most {limit} characters", param=param
    )


def invalid_hash(param: str) -> ParamError:
    """400 for a scalar where a hash goes."""
    return ParamError(400, "Invalid hash", param=param)


def invalid_array(param: str) -> ParamError:
    """400 for a scalar or a hash where an array goes."""
    return ParamError(400, "Invalid array", param=param)


def metadata_key_too_long(key: str, limit: int) -> ParamError:
    """400 for a metadata key over Stripe's limit."""
    return ParamError(
        400,
        f"Metadata keys can have up to {limit} characters, but you passed in a key that is "
        f"{len(key)} characters. Invalid key: {key}",
        param="metadata",
    )


def metadata_value_too_long(value: str, limit: int) -> ParamError:
    """400 for a metadata value over Stripe's limit."""
    return ParamError(
        400,
        f"Metadata values can have up to {limit} characters, but you passed in a value that is "
        f"{len(value)} characters. Invalid value: {value}",
        param="metadata",
    )


def cannot_expand(path: str, *, instead: str | None = None) -> ParamError:
    """400 for an `expand[]` path that names no expandable field (no code, no param)."""
    message = f"This property cannot be expanded ({path})."
    if instead is not None:
        message += f" You may want to try expanding '{instead}' instead."
    return ParamError(400, message)


def sandbox_cannot_expand(path: str, kind: str | None) -> ParamError:
    """400 for an expansion Stripe makes but the sandbox cannot: it keeps no such object. Refused
    before the request runs, so nothing happens and a retry without it may reuse the key."""
    held = f"no {kind} objects" if kind else "none of the objects this field may hold"
    return ParamError(400, f"The sandbox cannot expand {path}: it keeps {held}.", param="expand")


def expand_too_deep() -> ParamError:
    """400 for an `expand[]` path of more than four levels."""
    return ParamError(400, "You cannot expand more than 4 levels of a property.")


def raw_card_data() -> ParamError:
    """400 for card numbers sent with a secret key: only Stripe.js (publishable key) sends them."""
    return ParamError(
        400,
        "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest "
        "you use test tokens that map to the test card you are using, see "
        "https://stripe.com/docs/testing. To enable raw card data APIs in test mode, see "
        "https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis.",
    )


def not_supported(param: str, detail: str = "") -> ParamError:
    """400 for a parameter Stripe takes but the sandbox does not act on: refused, not ignored,
    so a request that relies on it fails here rather than behaving differently in production."""
    return ParamError(
        400, f"The sandbox does not support the parameter {param}{detail}.", param=param
    )


def no_such(
    kind: str, object_id: str, *, param: str | None = None, status: int = 404
) -> StripeError:
    """404 resource_missing, `No such payment_intent: 'pi_...'`."""
    return StripeError(
        status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing"
    )


def invalid_api_key(key: str) -> StripeError:
    """401 for a key the sandbox does not know; the key is masked as Stripe masks it."""
    return StripeError(401, f"Invalid API Key provided: {mask_key(key)}", doc_url=False)


def no_api_key() -> StripeError:
    """401 when no key was sent."""
    return StripeError(401, NO_KEY_MESSAGE, doc_url=False)


def publishable_key_not_allowed() -> StripeError:
    """401 for a publishable key where only a secret key works."""
    return StripeError(401, PUBLISHABLE_KEY_MESSAGE, doc_url=False)


def api_error() -> StripeError:
    """500 api_error (stripe.APIError), as for a fault on Stripe's side."""
    return StripeError(
        500,
        "An unknown error occurred while processing your request. Please try again.",
        type="api_error",
        doc_url=False,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    """404 for a path the API does not have."""
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
        "we can help at https://support.stripe.com/.",
        doc_url=False,
    )


def body_too_large(limit: int) -> StripeError:
    """413 for a request body larger than the sandbox reads."""
    return StripeError(413, f"The request body is larger than {limit} bytes.", doc_url=False)


def idempotency_mismatch(key: str) -> StripeError:
    """400 idempotency_error (stripe.IdempotencyError)."""
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were first "
        f"used with. Try using a key other than '{key}' if you meant to execute a different "
        "request.",
        type="idempotency_error",
        doc_url=False,
    )


def mask_key(key: str) -> str:
    """`sk_test_****...1234`: the prefix and the last four characters, as Stripe shows them."""
    if len(key) <= 12:
        return "*" * len(key)
    prefix = key[:8]
    return prefix + "*" * (len(key) - 12) + key[-4:]
