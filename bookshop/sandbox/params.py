"""Decode Stripe's bracket-notation form parameters into nested dicts and lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

Params = dict[str, Any]

# Far deeper than any of Stripe's parameters go; bounds the recursion of what walks the decoded
# parameters (validation, and the JSON that quotes them in an error).
MAX_DEPTH = 16
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


class ParamsError(ValueError):
    """A parameter name that cannot be decoded: `str()` is the message, `name` the name."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"Invalid parameter name: {name}")
        self.name = name


def parse_query(raw: str | bytes) -> Params:
    """Decode an `application/x-www-form-urlencoded` string."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    """Nest `a[b][c]=v`; `a[]=v` makes a list.

    `a[0]=v` stays a hash keyed "0": only the endpoint's parameters say whether it is an array
    (stripe-python's `expand[0]`) or a hash with numeric keys (`metadata[1]`); validation decides.
    """
    root: Params = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            raise ParamsError(name)
        path = [match.group(1), *_PART.findall(match.group(2))]
        if len(path) > MAX_DEPTH:
            raise ParamsError(
                match.group(1),
                f"Invalid parameter name: {match.group(1)} nests more than {MAX_DEPTH} levels deep",
            )
        node: Any = root
        for i, part in enumerate(path[:-1]):
            child_part = path[i + 1]
            if isinstance(node, list):
                raise ParamsError(name)
            existing = node.get(part)
            if child_part == "":
                if not isinstance(existing, list):
                    existing = []
                    node[part] = existing
            elif not isinstance(existing, dict):
                existing = {}
                node[part] = existing
            node = existing
        last = path[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return root


def fingerprint(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """An order-insensitive identity of a request's parameters, for idempotency checks."""
    return tuple(sorted(pairs))
