"""Refuse the requests Stripe refuses, by checking them against stripe-python's parameter types.

Each endpoint the sandbox serves is paired with the `stripe.params` TypedDict that stripe-python
(pinned to the sandbox's API version) sends to it. Generated from Stripe's API definition, their
annotations say which names exist at every depth, their types, which keys are required, the
enumerations, and where `""` is accepted (Stripe's "unset"). They are compiled once, at import,
into a tree of `Param`; a request is then checked by walking only what it sent, so a call costs
little more than reading its parameters.

The shop's tests may use this too: `params_type(method, path)` names the TypedDict an endpoint
takes, and `validate(method, path, params)` refuses what Stripe would refuse.

Beyond Stripe's rules, each endpoint names the top-level parameters the sandbox acts on;
`check_supported` refuses the others, which the sandbox would otherwise ignore in silence.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, ForwardRef, Literal, Union

import stripe
import stripe.params
import typing_extensions

from bookshop.sandbox import errors

# Stripe's API definition (github.com/stripe/openapi, spec3.json) gives every string parameter a
# `maxLength`, which stripe-python's types leave out: 5000 characters for most, less for these.
DEFAULT_MAX_LENGTH = 5000
MAX_LENGTHS = {"description": 1000, "statement_descriptor": 22, "statement_descriptor_suffix": 22}
# docs.stripe.com/metadata: keys up to 40 characters, values up to 500 (and 50 keys, which
# depends on what the object already holds, so the store checks it).
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500
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
        stripe.Refund,
        stripe.Event,
        stripe.ListObject,
    }
)

_INTEGER = re.compile(r"-?[0-9]+")
_INDEX = re.compile(r"[0-9]+")
_NAMES_ELSEWHERE = {"StripeContext": stripe.StripeContext, "Mapping": Mapping}


@dataclass
class Param:
    """What one parameter accepts, compiled from its annotation."""

    scalars: frozenset[str] = frozenset()  # of "string", "integer", "boolean"
    enum: tuple[str, ...] = ()  # when set, the only strings accepted
    allowed: frozenset[str] = frozenset()  # the same, for lookups
    empty_ok: bool = False  # `""` accepted: it unsets the parameter
    max_length: int = DEFAULT_MAX_LENGTH
    fields: dict[str, Param] | None = None  # a hash with exactly these keys
    required: tuple[str, ...] = ()
    items: Param | None = None  # an array of these
    metadata: bool = False  # Stripe's metadata: any keys, string values, with limits


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


def _compile(annotation: Any, cache: dict[type, Param]) -> Param:
    """The Param for one annotation (a union of the forms stripe-python's types use)."""
    origin = typing.get_origin(annotation)
    options = typing.get_args(annotation) if origin in (Union, types.UnionType) else (annotation,)
    param = Param()
    scalars: set[str] = set()
    literals: list[str] = []
    for option in options:
        origin = typing.get_origin(option)
        if option is type(None):
            continue
        if origin is Literal:
            literals.extend(typing.get_args(option))
        elif option is str:
            scalars.add("string")
        elif option is bool:
            scalars.add("boolean")
        elif option is int:
            scalars.add("integer")
        elif origin is list:
            param.items = _compile(typing.get_args(option)[0], cache)
        elif origin is dict or (
            isinstance(origin, type) and issubclass(origin, stripe.StripeObject)
        ):
            # Dict[str, str] or stripe-python's untyped hash: in these endpoints, metadata.
            param.metadata = True
        elif typing_extensions.is_typeddict(option):
            typed = _typed_dict(option, cache)
            param.fields, param.required = typed.fields, typed.required
        else:
            raise TypeError(f"no rule for the annotation {option!r}")
    param.empty_ok = "" in literals
    # stripe-python adds `str` to every enumeration so that new values do not break its users'
    # type checks; the API itself accepts only the values listed.
    param.enum = tuple(value for value in literals if value != "")
    param.allowed = frozenset(param.enum)
    if param.enum:
        scalars.add("string")
    param.scalars = frozenset(scalars)
    return param


def _typed_dict(cls: type, cache: dict[type, Param]) -> Param:
    """A hash Param with one field per key of the TypedDict (shared by its every use)."""
    if cls in cache:
        return cache[cls]
    hints = typing.get_type_hints(
        cls, globalns=vars(sys.modules[cls.__module__]), localns=_NAMES_ELSEWHERE
    )
    # Top-level params classes also carry stripe-python's request options (api_key,
    # idempotency_key, ...), which travel as headers, never as parameters.
    options = stripe.RequestOptions.__annotations__ if _is_request(cls) else {}
    names = [name for name in hints if name not in options]
    required: frozenset[str] = cls.__required_keys__  # type: ignore[attr-defined]
    # Cached before its fields are compiled, and filled in place, so that every use shares it.
    param = Param(fields={}, required=tuple(name for name in names if name in required))
    cache[cls] = param
    assert param.fields is not None
    for name in names:
        param.fields[name] = _compile(hints[name], cache)
    return param


def _is_request(cls: type) -> bool:
    return stripe.RequestOptions in getattr(cls, "__orig_bases__", ())


def _schema(params_type: type) -> Param:
    """The top-level Param of an endpoint, with the limits its types leave out."""
    root = _compile(params_type, {})
    assert root.fields is not None
    for name, limit in MAX_LENGTHS.items():
        if name in root.fields:
            root.fields[name] = replace(root.fields[name], max_length=limit)
    shipping = root.fields.get("shipping")
    if shipping is not None and shipping.fields is not None:
        # stripe-python marks every line of a shipping address optional, but Stripe refuses one
        # without its first line: "Missing required param: shipping[address][line1]." (as
        # quoted in craftcms/commerce-stripe#263).
        address = shipping.fields["address"]
        shipping.fields["address"] = replace(address, required=(*address.required, "line1"))
    return root


def _publishable_schema(method: str, path: str, root: Param) -> Param:
    """What a browser may send with the publishable key: on confirm, what Stripe.js adds.

    Stripe.js confirms with the client secret, says which type of method it expects, and sends
    the card itself in payment_method_data, which stripe-python's confirm types leave out. These
    are what the sandbox's Stripe.js sends (static/stripejs/payment-frame.js). POST
    /v1/payment_methods takes `card` in both schemas: `check` refuses a card number sent with
    the secret key, as Stripe does.
    """
    if (method, path) != ("POST", "/v1/payment_intents/{intent}/confirm"):
        return root
    assert root.fields is not None
    text = Param(scalars=frozenset({"string"}))
    method_data = root.fields["payment_method_data"]
    assert method_data.fields is not None
    kind = method_data.fields["type"]
    card = _compile(stripe.params.PaymentMethodCreateParamsCard, {})
    browser_method_data = replace(
        method_data,
        fields={
            **method_data.fields,
            "card": card,
            "type": replace(kind, enum=(*kind.enum, "card"), allowed=kind.allowed | {"card"}),
        },
    )
    return replace(
        root,
        fields={
            **root.fields,
            "client_secret": text,
            "expected_payment_method_type": text,
            "payment_method_data": browser_method_data,
        },
    )


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
    schema = _schema(params_type)
    pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    return Endpoint(
        method,
        path,
        params_type,
        resource,
        is_list,
        pattern,
        schema,
        _publishable_schema(method, path, schema),
        frozenset(supported.split()),
    )


P = stripe.params
LIST = "created ending_before expand limit starting_after"
ENDPOINTS: tuple[Endpoint, ...] = (
    _endpoint(
        "POST",
        "/v1/payment_intents",
        P.PaymentIntentCreateParams,
        stripe.PaymentIntent,
        "allowed_payment_method_types amount automatic_payment_methods capture_method confirm "
        "currency description expand metadata payment_method receipt_email setup_future_usage "
        "shipping statement_descriptor statement_descriptor_suffix",
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
        "client_secret expand expected_payment_method_type payment_method payment_method_data "
        "receipt_email return_url shipping",
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
del P, LIST


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
    schema = endpoint.publishable_schema if publishable else endpoint.schema
    shaped: dict[str, Any] = _arrays(params, schema)
    _check_hash(shaped, schema, "")
    card = shaped.get("card")
    raw_card = isinstance(card, Mapping) and card.get("number") is not None
    if raw_card and endpoint.path == "/v1/payment_methods" and not publishable:
        raise errors.raw_card_data()
    expand = shaped.get("expand")
    if isinstance(expand, list | tuple):
        for path in expand:
            _check_expand(endpoint, str(path))
    return shaped


def check_supported(endpoint: Endpoint, params: Mapping[str, Any]) -> None:
    """Refuse a parameter Stripe takes but the sandbox would ignore (checked params only)."""
    for name in params:
        if name not in endpoint.supported:
            raise errors.not_supported(name)
    if params.get("capture_method") == "manual":  # no requires_capture, no capture endpoint
        raise errors.not_supported("capture_method", " set to manual")


def _arrays(value: Any, param: Param) -> Any:
    """`value` with each hash of indexes made a list where `param` takes an array.

    Elsewhere digit keys stay keys: `metadata[1]=book` is metadata {"1": "book"}.
    """
    if isinstance(value, Mapping):
        indexes = all(isinstance(key, str) and _INDEX.fullmatch(key) for key in value)
        if param.items is not None and value and indexes:
            # By number, without int(): Python refuses to convert very long digit strings.
            order = sorted(value, key=lambda key: (len(key.lstrip("0")), key.lstrip("0")))
            return [_arrays(value[key], param.items) for key in order]
        fields = param.fields
        if fields is None:
            return value
        return {
            key: _arrays(item, fields[key]) if key in fields else item
            for key, item in value.items()
        }
    if isinstance(value, list | tuple) and param.items is not None:
        return [_arrays(item, param.items) for item in value]
    return value


def _child(name: str, key: object) -> str:
    return f"{name}[{key}]" if name else str(key)


def _check_hash(value: Mapping[str, Any], param: Param, name: str) -> None:
    fields = param.fields
    assert fields is not None
    for key in value:
        if key not in fields:
            raise errors.unknown_param(_child(name, key))
    for key in param.required:
        if value.get(key) is None:
            raise errors.missing_param(_child(name, key))
    for key, item in value.items():
        _check_value(item, fields[key], _child(name, key))


def _check_value(value: Any, param: Param, name: str) -> None:
    if value is None:  # stripe-python leaves out what is None
        return
    if isinstance(value, Mapping):
        if param.fields is not None:
            _check_hash(value, param, name)
        elif param.metadata:
            _check_metadata(value, name)
        else:
            raise _wrong_type(param, name, value)
        return
    if isinstance(value, list | tuple):
        if param.items is None:
            raise _wrong_type(param, name, value)
        for index, item in enumerate(value):
            _check_value(item, param.items, f"{name}[{index}]")
        return
    text = _wire(value)
    if text == "":
        if not param.empty_ok:
            raise errors.empty_param(name)
        return
    scalars = param.scalars
    if "boolean" in scalars and text in ("true", "false"):
        return
    if "integer" in scalars and _is_integer(text):
        return
    if param.enum:
        if text not in param.allowed:
            raise errors.invalid_enum(name, param.enum)
    elif "string" in scalars:
        if len(text) > param.max_length:
            raise errors.string_too_long(name, text, param.max_length)
    else:
        raise _wrong_type(param, name, text)


def _is_integer(text: str) -> bool:
    # Stripe's integers are 64-bit; the length test spares int() a string Python refuses.
    if len(text) > 20 or not _INTEGER.fullmatch(text):
        return False
    return -(2**63) <= int(text) < 2**63


def _check_metadata(value: Mapping[str, Any], name: str) -> None:
    for key, item in value.items():
        if len(key) > METADATA_KEY_LENGTH:
            raise errors.metadata_key_too_long(key, METADATA_KEY_LENGTH)
        if isinstance(item, Mapping | list | tuple):
            raise errors.invalid_string(_child(name, key), _shown(item))
        text = _wire(item)
        if len(text) > METADATA_VALUE_LENGTH:
            raise errors.metadata_value_too_long(text, METADATA_VALUE_LENGTH)


def _wire(value: Any) -> str:
    """A scalar as stripe-python sends it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown(value: Any) -> str:
    """A hash or array as Stripe quotes it in an error: JSON, arrays by index."""
    if isinstance(value, list | tuple):
        value = {str(index): item for index, item in enumerate(value)}
    return json.dumps(value, separators=(",", ":"))


def _wrong_type(param: Param, name: str, value: Any) -> errors.StripeError:
    """The error for a value of the wrong kind, naming the kind the parameter wants."""
    scalar = not isinstance(value, Mapping | list | tuple)
    shown = value if scalar else _shown(value)
    if "integer" in param.scalars:
        return errors.invalid_integer(name, shown)
    if "boolean" in param.scalars:
        return errors.invalid_boolean(name, shown)
    if "string" in param.scalars:
        return errors.invalid_string(name, shown)
    if param.items is not None:
        return errors.invalid_array(name)
    return errors.invalid_hash(name)


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
