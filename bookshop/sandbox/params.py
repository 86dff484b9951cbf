"""Decode Stripe's bracket-notation form parameters into nested dicts and lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

Params = dict[str, Any]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


class ParamsError(ValueError):
    """A parameter name that cannot be decoded."""


def parse_query(raw: str | bytes) -> Params:
    """Decode an `application/x-www-form-urlencoded` string."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    """Nest `a[b][c]=v`; `a[]=v` and `a[0]=v` make lists (stripe-python sends the indexed form)."""
    root: Params = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            raise ParamsError(name)
        path = [match.group(1), *_PART.findall(match.group(2))]
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
    result: Params = _listify(root)
    return result


def _listify(node: Any) -> Any:
    # Indexed keys (`expand[0]`, `expand[1]`) arrive as dicts; Stripe treats them as arrays.
    if isinstance(node, dict):
        converted = {key: _listify(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    if isinstance(node, list):
        return [_listify(item) for item in node]
    return node


def fingerprint(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """An order-insensitive identity of a request's parameters, for idempotency checks."""
    return tuple(sorted(pairs))
