"""The sandbox's stand-in for Stripe.js: the /v3/ script and the pages it frames.

The shop loads `<sandbox>/v3/` instead of `https://js.stripe.com/v3/` in sandbox mode. Card fields
live in `/elements/payment-frame`, an iframe on the sandbox's origin, and 3D Secure challenges in
`/3ds/challenge/<id>`; the scripts and styles they use are static files under `static/stripejs/`.
"""

from __future__ import annotations

import re
from pathlib import Path

from quart import Blueprint, Response, abort, current_app, render_template

blueprint = Blueprint("stripejs", __name__)

_INTENT_ID = re.compile(r"pi_[A-Za-z0-9]+")

# The framed pages run only their own static scripts. Any origin may frame them (any shop may use
# the sandbox); the scripts check who framed them before exchanging messages.
_FRAME_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors *",
    ]
)


def _frame_headers(response: Response) -> Response:
    """Mark a framed page as never cached, locked down by CSP and embeddable."""
    response.headers["Content-Security-Policy"] = _FRAME_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.pop("X-Frame-Options", None)
    return response


@blueprint.get("/v3")
@blueprint.get("/v3/")
async def stripe_js() -> Response:
    """Serve the fake Stripe.js, revalidated on every load so edits show up at once."""
    # Read per request (a few kB) rather than streamed: no open file outlives the response.
    script = (Path(current_app.static_folder or "") / "stripejs" / "v3.js").read_bytes()
    response = Response(script, mimetype="application/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/elements/payment-frame")
async def payment_frame() -> Response:
    """Serve the Payment Element's card fields, framed by the shop's page."""
    html = await render_template("stripejs/payment_frame.html")
    return _frame_headers(Response(html, mimetype="text/html"))


@blueprint.get("/3ds/challenge/<intent_id>")
async def challenge(intent_id: str) -> Response:
    """Serve the 3D Secure challenge for one PaymentIntent, framed in the shop's modal."""
    if not _INTENT_ID.fullmatch(intent_id):
        abort(404)
    html = await render_template("stripejs/challenge.html", intent_id=intent_id)
    return _frame_headers(Response(html, mimetype="text/html"))
