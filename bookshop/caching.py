"""What a shared cache in front of the shop (a CDN, a caching proxy) may keep, and for how long.

A page that depends on a session (its CSRF token, its cart count) is kept by the shopper's own
browser only; the same page for a visitor with no session may be shared for a minute. A response
a view marks public itself (static files, robots.txt, the sitemap) is the same for everyone and
keeps its own lifetime.
"""

from __future__ import annotations

from quart import Quart, Response, request, session

# Short, so a changed price or a book selling out shows within a minute everywhere.
SHARED_PAGE_SECONDS = 60


def install(app: Quart) -> None:
    """Mark each response of the app as private or shareable."""

    @app.after_request
    async def mark_cacheability(response: Response) -> Response:
        control = response.cache_control
        if control.public:
            return response
        # A cache keeps a page per Cookie header: no shopper ever gets another's.
        response.vary.add("Cookie")
        if control.no_store or control.private:
            return response
        # Hooks run before the session cookie is written: a session this request began is
        # `modified` here, one it carried is in its cookies.
        if request.cookies or session.modified or "Set-Cookie" in response.headers:
            control.private = True
            control.no_cache = True
        elif request.method in ("GET", "HEAD") and response.status_code == 200:
            control.public = True
            control.max_age = SHARED_PAGE_SECONDS
        return response
