"""Rendering the shop's templates: a full page, or for htmx only its fragment, from one set."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import Environment
from quart import Quart, Response, current_app, request

from bookshop.config import Settings
from bookshop.htmx import wants_fragment

TEMPLATE_CACHE_SIZE = 400  # Jinja's default
URL_CACHE_SIZE = 1024  # the shop's pages link to a few dozen URLs


async def render(
    template: str, fragment: str | None = None, status: int = 200, **context: Any
) -> Response:
    """Render the fragment for htmx and the page (which includes it) otherwise; a page without a
    fragment is the page for both, and never asks for htmx's headers."""
    partial = fragment is not None and wants_fragment()
    context["partial"] = partial
    await current_app.update_template_context(context)
    chosen = _pages(current_app).get_template(fragment if fragment and partial else template)
    body = chosen.render(context)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _pages(app: Quart) -> Environment:
    # The app's templates, filters and globals, rendered synchronously: Quart's environment is in
    # Jinja's async mode, which costs more per page, and the pages await nothing
    # (docs/performance.md, "Pages in Jinja's sync mode").
    pages: Environment | None = app.extensions.get("pages")
    if pages is None:
        # A cache of its own, so that no template compiled for async mode is carried over.
        pages = app.jinja_env.overlay(enable_async=False, cache_size=TEMPLATE_CACHE_SIZE)
        # A copy of the globals as they are at the first page, when create_app has set them all.
        pages.globals = {
            **app.jinja_env.globals,
            "url_for": _remembered_url_for(app),
            "absolute_url": absolute_url,
        }
        app.extensions["pages"] = pages
    return pages


def absolute_url(path: str) -> str:
    """A path of this shop (from `url_for`) as an absolute URL: every canonical link, JSON-LD URL,
    sitemap and robots.txt entry is built here. On SHOP_PUBLIC_URL, not the request's Host header
    and scheme, which a client or a TLS proxy sets; the request's host only without the setting."""
    settings: Settings = current_app.extensions["settings"]
    return (settings.public_url or request.host_url.rstrip("/")) + path


def _remembered_url_for(app: Quart) -> Callable[..., str]:
    """`url_for` for the pages, each URL built once: a page links to the same URLs every time, and
    building one (URL defaults, the map, quoting) is a fair share of rendering a page
    (docs/performance.md, "Each link's URL built once").

    A path depends only on the endpoint, its values and the root path the shop is served under
    (the one URL default, a static file's fingerprint, depends on the values alone): those are
    the key. External URLs, anchors and other `_` options, relative endpoints (".name") and
    unhashable values are built each time.
    """

    @lru_cache(maxsize=URL_CACHE_SIZE)
    def build(root_path: str, endpoint: str, values: tuple[tuple[str, Any], ...]) -> str:
        return app.url_for(endpoint, **dict(values))

    def url_for(endpoint: str, **values: Any) -> str:
        if not endpoint.startswith(".") and not any(name.startswith("_") for name in values):
            try:
                return build(request.root_path, endpoint, tuple(sorted(values.items())))
            except TypeError:  # an unhashable value
                pass
        return app.url_for(endpoint, **values)

    return url_for
