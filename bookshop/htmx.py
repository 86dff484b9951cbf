"""The one place that decides between an htmx fragment and a full page."""

from __future__ import annotations

from typing import Any

from quart import Response, render_template, request


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page (not a history restore or full swap)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-History-Restore-Request") != "true"
        and headers.get("HX-Request-Type", "partial") != "full"
    )


async def render(page: str, fragment: str, status: int = 200, **context: Any) -> Response:
    """Render the fragment for htmx and the page (which includes it) otherwise."""
    partial = wants_fragment()
    body = await render_template(fragment if partial else page, partial=partial, **context)
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    response.vary.add("HX-Request")
    return response
