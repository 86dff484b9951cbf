"""stripe-python's parameter types, compiled into trees of `Param`, and a request walked along one.

stripe-python's `stripe.params` TypedDicts are generated from Stripe's API definition: their
annotations say which names exist at every depth, their types, which keys are required, the
enumerations, and where `""` is accepted (Stripe's "unset"). `compile_schema` turns one into a
tree of `Param` once, at import; `check_hash` then walks only what a request sent, refusing what
Stripe refuses with Stripe's error, so a call costs little more than reading its parameters.
`validation` pairs each endpoint with its type.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Union

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


def compile_annotation(annotation: Any, cache: dict[type, Param]) -> Param:
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
            param.items = compile_annotation(typing.get_args(option)[0], cache)
        elif origin is dict or (
            isinstance(origin, type) and issubclass(origin, stripe.StripeObject)
        ):
            # Dict[str, str] or stripe-python's untyped hash: in these endpoints, metadata.
            param.metadata = True
        elif typing_extensions.is_typeddict(option):
            typed = typed_dict(option, cache)
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


def typed_dict(cls: type, cache: dict[type, Param]) -> Param:
    """A hash Param with one field per key of the TypedDict (shared by its every use)."""
    if cls in cache:
        return cache[cls]
    hints = typing.get_type_hints(
        cls, globalns=vars(sys.modules[cls.__module__]), localns=_NAMES_ELSEWHERE
    )
    # Top-level params classes also carry stripe-python's request options (api_key,
    # idempotency_key, ...), which travel as headers, never as parameters.
    options = stripe.RequestOptions.__annotations__ if is_request(cls) else {}
    names = [name for name in hints if name not in options]
    required: frozenset[str] = cls.__required_keys__  # type: ignore[attr-defined]
    # Cached before its fields are compiled, and filled in place, so that every use shares it.
    param = Param(fields={}, required=tuple(name for name in names if name in required))
    cache[cls] = param
    assert param.fields is not None
    for name in names:
        param.fields[name] = compile_annotation(hints[name], cache)
    return param


def is_request(cls: type) -> bool:
    """True for a top-level params class (it carries stripe-python's request options)."""
    return stripe.RequestOptions in getattr(cls, "__orig_bases__", ())


def compile_schema(params_type: type) -> Param:
    """The top-level Param of an endpoint, with the limits its types leave out."""
    root = compile_annotation(params_type, {})
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


def with_card_data(root: Param) -> Param:
    """`root` with the card itself allowed in `payment_method_data` (`card[number]`, ...), which
    stripe-python's types leave out: Stripe.js sends it with the publishable key, and Stripe
    refuses it from a server (`validation.check` answers a card number sent with the secret key
    with Stripe's raw-card-data error)."""
    assert root.fields is not None
    method_data = root.fields["payment_method_data"]
    assert method_data.fields is not None
    kind = method_data.fields["type"]
    card = compile_annotation(stripe.params.PaymentMethodCreateParamsCard, {})
    widened = replace(
        method_data,
        fields={
            **method_data.fields,
            "card": card,
            "type": replace(kind, enum=(*kind.enum, "card"), allowed=kind.allowed | {"card"}),
        },
    )
    return replace(root, fields={**root.fields, "payment_method_data": widened})


def shape_arrays(value: Any, param: Param) -> Any:
    """`value` with each hash of indexes made a list where `param` takes an array.

    Elsewhere digit keys stay keys: `metadata[1]=book` is metadata {"1": "book"}.
    """
    if isinstance(value, Mapping):
        indexes = all(isinstance(key, str) and _INDEX.fullmatch(key) for key in value)
        if param.items is not None and value and indexes:
            # By number, without int(): Python refuses to convert very long digit strings.
            order = sorted(value, key=lambda key: (len(key.lstrip("0")), key.lstrip("0")))
            return [shape_arrays(value[key], param.items) for key in order]
        fields = param.fields
        if fields is None:
            return value
        return {
            key: shape_arrays(item, fields[key]) if key in fields else item
            for key, item in value.items()
        }
    if isinstance(value, list | tuple) and param.items is not None:
        return [shape_arrays(item, param.items) for item in value]
    return value


def _child(name: str, key: object) -> str:
    return f"{name}[{key}]" if name else str(key)


def check_hash(value: Mapping[str, Any], param: Param, name: str) -> None:
    """Raise Stripe's error for the first name, type or value of `value` that `param` refuses,
    at any depth (`name` is the hash's own, `""` at the top)."""
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
            check_hash(value, param, name)
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
