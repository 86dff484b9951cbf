"""htmx's headers in one place: read from the request, written to the response.

Views ask "is this a fragment request?" and say "push this URL" through these helpers, never through
raw header strings.
"""

from __future__ import annotations

from quart import Quart, Response, g, request

# Every request header `wants_fragment` reads: a response that consulted it varies on all three.
REQUEST_HEADERS = ("HX-Request", "HX-Request-Type", "HX-History-Restore-Request")


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page (not a history restore or full swap)."""
    g.htmx_consulted = True
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-History-Restore-Request") != "true"
        and headers.get("HX-Request-Type", "partial") != "full"
    )


def install(app: Quart) -> None:
    """Name the htmx headers in `Vary` on every response whose view consulted them, so a cache
    never serves a fragment for a page (or a page for a fragment)."""

    @app.after_request
    async def vary_on_htmx_headers(response: Response) -> Response:
        if g.get("htmx_consulted"):
            response.vary.update(REQUEST_HEADERS)
        return response


def push_url(response: Response, url: str) -> Response:
    """Add `url` to the browser's history, as if the shopper had navigated there."""
    response.headers["HX-Push-Url"] = url
    return response


def redirect(response: Response, url: str) -> Response:
    """Send the browser to `url` with a full page load (a plain 303 would be swapped in)."""
    response.headers["HX-Redirect"] = url
    return response


def replace_url(response: Response, url: str) -> Response:
    """Show `url` in the address bar without a new history entry."""
    response.headers["HX-Replace-Url"] = url
    return response


def retarget(response: Response, selector: str, swap: str | None = None) -> Response:
    """Swap the response into `selector` instead of the requester's target (and swap style)."""
    response.headers["HX-Retarget"] = selector
    if swap is not None:
        response.headers["HX-Reswap"] = swap
    return response


def trigger(response: Response, *events: str) -> Response:
    """Fire these events in the browser once the response is swapped in."""
    response.headers["HX-Trigger"] = ", ".join(events)
    return response
