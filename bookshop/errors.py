"""Error pages: a readable page (or htmx fragment) for every failure, with a reference to quote."""

from __future__ import annotations

import logging
import secrets

from quart import Quart, Response, g
from werkzeug.exceptions import HTTPException, InternalServerError

from bookshop.pages import render

log = logging.getLogger(__name__)

# Shopper-facing titles; the description of the exception (set where it is raised) says more.
TITLES = {
    400: "That request didn't make sense",
    401: "Please sign in",
    403: "That request was refused",
    404: "We couldn't find that page",
    405: "That isn't allowed here",
    413: "That request is too large",
    414: "That address is too long",
    422: "We can't do that",
    429: "Too many requests",
    431: "That request is too large",
}


def register_error_pages(app: Quart) -> None:
    """Attach the request id and the error handlers to the app."""

    @app.before_request
    async def assign_request_id() -> None:
        g.request_id = secrets.token_hex(8)

    @app.after_request
    async def expose_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-Id"] = request_id
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if isinstance(error, InternalServerError):
            return await server_error(error)
        status = error.code or 500
        response = await render(
            "errors/error.html",
            "errors/_error.html",
            status=status,
            title=TITLES.get(status, "Something went wrong"),
            message=error.description,
            status_code=status,
        )
        # Keep the headers that tell a client what to do next (405 Allow, 429 Retry-After).
        for name in ("Allow", "Retry-After"):
            value = error.get_response().headers.get(name)
            if value:
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    async def server_error(error: Exception) -> Response:
        request_id = g.get("request_id", "-")
        log.error("unhandled error, request id %s", request_id, exc_info=error)
        return await render(
            "errors/error.html",
            "errors/_error.html",
            status=500,
            title="Something went wrong on our side",
            message=(
                "Sorry, we couldn't finish that. You have not been charged. "
                f"If it keeps happening, tell us this reference: {request_id}."
            ),
            status_code=500,
        )
