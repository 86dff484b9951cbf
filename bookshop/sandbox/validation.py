"""Refuse the requests Stripe refuses, by checking them against stripe-python's parameter types.

Each endpoint the sandbox serves is paired with the `stripe.params` TypedDict that stripe-python
(pinned to the sandbox's API version) sends to it, compiled once, at import, into a tree of
`schema.Param`; a request is then checked by walking only what it sent.

The shop's tests may use this too: `params_type(method, path)` names the TypedDict an endpoint
takes, and `validate(method, path, params)` refuses what Stripe would refuse.

Beyond Stripe's rules, each endpoint names the top-level parameters the sandbox acts on;
`check_supported` refuses the others, which the sandbox would otherwise ignore in silence.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, ForwardRef

import stripe
import stripe.params
import stripe.params.test_helpers

from bookshop.sandbox import errors, schema
from bookshop.sandbox.schema import Param

# docs.stripe.com/expand: expansions nest at most four levels deep.
MAX_EXPAND_DEPTH = 4
# Fields Stripe leaves out unless `expand[]` names them: a Charge's refunds since API version
# 2022-11-15 (docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand).
INCLUDABLE: dict[type, dict[str, type | None]] = {stripe.Charge: {"refunds": stripe.ListObject}}
# What an expansion may reach: the objects the Store keeps (Store.find) and the Charge refunds
# list it builds. Anything else (a balance transaction, a customer) the sandbox could not return.
KEPT: frozenset[type] = frozenset(
    {
        stripe.PaymentIntent,
        stripe.Charge,
        stripe.PaymentMethod,
        stripe.ConfirmationToken,
        stripe.Refund,
        stripe.Event,
        stripe.ListObject,
    }
)
# The endpoints that make a ConfirmationToken: they take the card itself in payment_method_data
# (Stripe.js, with the publishable key), which stripe-python's types leave out.
CARD_DATA_PATHS = frozenset({"/v1/confirmation_tokens", "/v1/test_helpers/confirmation_tokens"})


class UnknownEndpoint(LookupError):
    """The sandbox does not serve this method and path."""


@dataclass(frozen=True, eq=False)
class Endpoint:
    """One API endpoint: its parameters' type and schema, and the object it answers with."""

    method: str
    path: str  # Stripe's template, `/v1/payment_intents/{intent}`
    params_type: type
    resource: type  # the stripe-python class of the object returned (of each item, for lists)
    is_list: bool
    pattern: re.Pattern[str] = field(repr=False)
    schema: Param = field(repr=False)
    publishable_schema: Param = field(repr=False)
    supported: frozenset[str] = field(repr=False)  # the top-level names the sandbox acts on


def _schemas(method: str, path: str, root: Param) -> tuple[Param, Param]:
    """An endpoint's schemas for the secret key and for the publishable key (a browser).

    With the publishable key Stripe.js sends the card itself in `payment_method_data`, which
    stripe-python's types leave out (the sandbox's Stripe.js: static/stripejs/payment-frame.js).
    On confirm it also sends the client secret and the type of method it expects. The endpoints
    that make a ConfirmationToken take the card with either key, as POST /v1/payment_methods
    does: `check` refuses a card number sent with the secret key, as Stripe does.
    """
    if path in CARD_DATA_PATHS:
        with_card = schema.with_card_data(root)
        return with_card, with_card
    if (method, path) != ("POST", "/v1/payment_intents/{intent}/confirm"):
        return root, root
    browser = schema.with_card_data(root)
    assert browser.fields is not None
    text = Param(scalars=frozenset({"string"}))
    browser_fields = {
        **browser.fields,
        "client_secret": text,
        "expected_payment_method_type": text,
    }
    return root, replace(browser, fields=browser_fields)


def _endpoint(
    method: str,
    path: str,
    params_type: type,
    resource: type,
    supported: str,
    *,
    is_list: bool = False,
) -> Endpoint:
    """One endpoint; `supported` lists the top-level parameters the sandbox acts on."""
    secret, publishable = _schemas(method, path, schema.compile_schema(params_type))
    pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    return Endpoint(
        method,
        path,
        params_type,
        resource,
        is_list,
        pattern,
        secret,
        publishable,
        frozenset(supported.split()),
    )


P = stripe.params
T = stripe.params.test_helpers
LIST = "created ending_before expand limit starting_after"
# What a ConfirmationToken carries that the sandbox acts on (not payment_method_options, for card
# installments, nor setup_future_usage, for saving the card: refused, not ignored).
CTOKEN_PARAMS = "expand payment_method payment_method_data return_url shipping"
ENDPOINTS: tuple[Endpoint, ...] = (
    _endpoint(
        "POST",
        "/v1/payment_intents",
        P.PaymentIntentCreateParams,
        stripe.PaymentIntent,
        # return_url (with confirm=true) matters only to redirecting methods, and cards do not
        # redirect.
        "allowed_payment_method_types amount automatic_payment_methods capture_method confirm "
        "confirmation_token currency description expand metadata payment_method receipt_email "
        "return_url setup_future_usage shipping statement_descriptor statement_descriptor_suffix",
    ),
    _endpoint(
        "GET",
        "/v1/payment_intents",
        P.PaymentIntentListParams,
        stripe.PaymentIntent,
        LIST,
        is_list=True,
    ),
    _endpoint(
        "GET",
        "/v1/payment_intents/{intent}",
        P.PaymentIntentRetrieveParams,
        stripe.PaymentIntent,
        "client_secret expand",
    ),
    _endpoint(
        "POST",
        "/v1/payment_intents/{intent}",
        P.PaymentIntentUpdateParams,
        stripe.PaymentIntent,
        "amount currency description expand metadata payment_method receipt_email "
        "setup_future_usage shipping statement_descriptor statement_descriptor_suffix",
    ),
    _endpoint(
        "POST",
        "/v1/payment_intents/{intent}/confirm",
        P.PaymentIntentConfirmParams,
        stripe.PaymentIntent,
        # return_url matters only to redirecting methods, and cards do not redirect.
        "client_secret confirmation_token expand expected_payment_method_type payment_method "
        "payment_method_data receipt_email return_url shipping",
    ),
    _endpoint(
        "POST",
        "/v1/payment_intents/{intent}/cancel",
        P.PaymentIntentCancelParams,
        stripe.PaymentIntent,
        "cancellation_reason expand",
    ),
    _endpoint(
        "GET",
        "/v1/charges",
        P.ChargeListParams,
        stripe.Charge,
        f"{LIST} payment_intent",
        is_list=True,
    ),
    # Stripe.js's endpoint, which stripe-python does not call: the same parameters as its test
    # helper's (the card itself added, see _schemas).
    _endpoint(
        "POST",
        "/v1/confirmation_tokens",
        T.ConfirmationTokenCreateParams,
        stripe.ConfirmationToken,
        CTOKEN_PARAMS,
    ),
    _endpoint(
        "POST",
        "/v1/test_helpers/confirmation_tokens",
        T.ConfirmationTokenCreateParams,
        stripe.ConfirmationToken,
        CTOKEN_PARAMS,
    ),
    _endpoint(
        "GET",
        "/v1/confirmation_tokens/{confirmation_token}",
        P.ConfirmationTokenRetrieveParams,
        stripe.ConfirmationToken,
        "expand",
    ),
    _endpoint("GET", "/v1/charges/{charge}", P.ChargeRetrieveParams, stripe.Charge, "expand"),
    _endpoint(
        "POST",
        "/v1/payment_methods",
        P.PaymentMethodCreateParams,
        stripe.PaymentMethod,
        "billing_details card expand metadata type",
    ),
    _endpoint(
        "GET",
        "/v1/payment_methods/{payment_method}",
        P.PaymentMethodRetrieveParams,
        stripe.PaymentMethod,
        "expand",
    ),
    _endpoint(
        "POST",
        "/v1/refunds",
        P.RefundCreateParams,
        stripe.Refund,
        "amount charge expand metadata payment_intent reason",
    ),
    _endpoint(
        "GET",
        "/v1/refunds",
        P.RefundListParams,
        stripe.Refund,
        f"{LIST} charge payment_intent",
        is_list=True,
    ),
    _endpoint("GET", "/v1/refunds/{refund}", P.RefundRetrieveParams, stripe.Refund, "expand"),
    _endpoint(
        "GET", "/v1/events", P.EventListParams, stripe.Event, f"{LIST} type types", is_list=True
    ),
    _endpoint("GET", "/v1/events/{id}", P.EventRetrieveParams, stripe.Event, "expand"),
)
del P, T, LIST, CTOKEN_PARAMS


def match(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint serving `method` on `path` (ids filled in), and the ids by name."""
    if method == "HEAD":  # a GET whose body the server leaves out
        method = "GET"
    for candidate in ENDPOINTS:
        if candidate.method == method:
            found = candidate.pattern.match(path)
            if found is not None:
                return candidate, found.groupdict()
    return None


def endpoint(method: str, path: str) -> Endpoint:
    """The endpoint with this method and path template, as `ENDPOINTS` names it."""
    for candidate in ENDPOINTS:
        if (candidate.method, candidate.path) == (method, path):
            return candidate
    raise UnknownEndpoint(f"the sandbox does not serve {method} {path}")


def params_type(method: str, path: str) -> type:
    """The `stripe.params` TypedDict of the endpoint serving `method` on a `/v1/...` path."""
    found = match(method, path)
    if found is None:
        raise UnknownEndpoint(f"the sandbox does not serve {method} {path}")
    return found[0].params_type


def validate(
    method: str, path: str, params: Mapping[str, Any], *, publishable: bool = False
) -> None:
    """Raise Stripe's error (an errors.StripeError) for parameters Stripe would refuse.

    `params` as decoded from the wire (nested dicts and lists of strings) or as given to
    stripe-python (ints, bools and None too). Raises UnknownEndpoint for a path not served.
    """
    found = match(method, path)
    if found is None:
        raise UnknownEndpoint(f"the sandbox does not serve {method} {path}")
    check(found[0], params, publishable=publishable)


def check(
    endpoint: Endpoint, params: Mapping[str, Any], *, publishable: bool = False
) -> dict[str, Any]:
    """Raise Stripe's error for parameters this endpoint refuses, expand paths and a card number
    sent with the secret key included.

    Returns the parameters with each indexed hash (`expand[0]=a`) made the array its
    parameter takes.
    """
    root = endpoint.publishable_schema if publishable else endpoint.schema
    shaped: dict[str, Any] = schema.shape_arrays(params, root)
    schema.check_hash(shaped, root, "")
    if not publishable and _card_number(endpoint, shaped) is not None:
        raise errors.raw_card_data()
    expand = shaped.get("expand")
    if isinstance(expand, list | tuple):
        for path in expand:
            _check_expand(endpoint, str(path))
    return shaped


def _card_number(endpoint: Endpoint, params: Mapping[str, Any]) -> Any:
    """The card number a request to an endpoint taking raw card data carries, if any."""
    if endpoint.path == "/v1/payment_methods":
        card = params.get("card")
    elif endpoint.path in CARD_DATA_PATHS:
        method_data = params.get("payment_method_data")
        card = method_data.get("card") if isinstance(method_data, Mapping) else None
    else:
        return None
    return card.get("number") if isinstance(card, Mapping) else None


def check_supported(endpoint: Endpoint, params: Mapping[str, Any]) -> None:
    """Refuse a parameter Stripe takes but the sandbox would ignore (checked params only)."""
    for name in params:
        if name not in endpoint.supported:
            raise errors.not_supported(name)
    if params.get("capture_method") == "manual":  # no requires_capture, no capture endpoint
        raise errors.not_supported("capture_method", " set to manual")


def _check_expand(endpoint: Endpoint, path: str) -> None:
    segments = path.split(".")
    if len(segments) > MAX_EXPAND_DEPTH:
        raise errors.expand_too_deep()
    start = 0
    if endpoint.is_list:
        # In a list, each item's fields are expanded with a `data.` prefix.
        if segments[0] != "data":
            raise errors.cannot_expand(path, instead=f"data.{path}")
        if len(segments) == 1:  # the items themselves: objects already, not ids
            raise errors.cannot_expand(path)
        start = 1
    resource: type | None = endpoint.resource
    for depth in range(start, len(segments)):
        targets = expandable(resource) if resource is not None else {}
        if segments[depth] not in targets:
            raise errors.cannot_expand(".".join(segments[: depth + 1]))
        resource = targets[segments[depth]]
        if resource not in KEPT:
            # Refused here, before the request runs: found while expanding the answer, it would
            # come after the charge or refund was made (and be saved under the Idempotency-Key).
            kind = getattr(resource, "OBJECT_NAME", None)
            raise errors.sandbox_cannot_expand(path, kind if isinstance(kind, str) else None)


@cache
def expandable(resource: type) -> dict[str, type | None]:
    """The fields of a stripe-python resource that `expand[]` may name, and what each holds.

    stripe-python types an expandable field `ExpandableField[X]`, an id or an X: a union of
    `str` and a resource class. Several classes (a polymorphic field): None.
    """
    found: dict[str, type | None] = {}
    for name, annotation in resource.__annotations__.items():
        options = typing.get_args(annotation)
        classes = [option for option in options if isinstance(option, ForwardRef | type)]
        classes = [option for option in classes if option not in (str, type(None))]
        if str not in options or not classes:
            continue
        target = classes[0] if len(classes) == 1 else None
        if isinstance(target, ForwardRef):
            target = getattr(stripe, target.__forward_arg__, None)
        found[name] = target
    found.update(INCLUDABLE.get(resource, {}))
    return found
