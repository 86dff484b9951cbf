"""Stripe's list objects: newest first, a page at a time, filtered by `created` and the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bookshop.sandbox.errors import no_such
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.parsing import parse_int, parse_limit
from bookshop.sandbox.records import Collection


def paginate(
    collection: Collection,
    params: JSON,
    url: str,
    matches: Callable[[JSON], bool] | None = None,
) -> JSON:
    """A Stripe list object, newest first, honouring limit, starting_after and ending_before."""
    limit = parse_limit(params.get("limit"))
    created = params.get("created")
    test = _created_filter(created) if created is not None else None

    def wanted(obj: JSON) -> bool:
        return (test is None or test(obj["created"])) and (matches is None or matches(obj))

    items = collection.items
    if params.get("ending_before"):
        start = _cursor(collection, str(params["ending_before"]), "ending_before")
        newer = (obj for obj in items[start + 1 :] if wanted(obj))
        page, has_more = _take(newer, limit)
        page.reverse()
    else:
        end = len(items)
        if params.get("starting_after"):
            end = _cursor(collection, str(params["starting_after"]), "starting_after")
        older = (items[i] for i in range(end - 1, -1, -1) if wanted(items[i]))
        page, has_more = _take(older, limit)
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _take(source: Iterator[JSON], limit: int) -> tuple[list[JSON], bool]:
    page: list[JSON] = []
    for obj in source:
        if len(page) == limit:
            return page, True
        page.append(obj)
    return page, False


def _cursor(collection: Collection, object_id: str, param: str) -> int:
    position = collection.position.get(object_id)
    if position is None:
        kind = collection.items[0]["object"] if collection.items else "object"
        raise no_such(kind, object_id, param=param, status=400)
    return position


def _created_filter(created: str | dict[str, str]) -> Callable[[int], bool]:
    # validation let through only an integer or a hash of gt, gte, lt and lte.
    if isinstance(created, str):
        exact = parse_int(created, "created")
        return lambda value: value == exact
    bounds = {op: parse_int(bound, f"created[{op}]") for op, bound in created.items()}

    def test(value: int) -> bool:
        return (
            ("gt" not in bounds or value > bounds["gt"])
            and ("gte" not in bounds or value >= bounds["gte"])
            and ("lt" not in bounds or value < bounds["lt"])
            and ("lte" not in bounds or value <= bounds["lte"])
        )

    return test
