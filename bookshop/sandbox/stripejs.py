"""The sandbox's stand-in for Stripe.js: the /v3/ script and the pages it frames."""

from __future__ import annotations

from quart import Blueprint

blueprint = Blueprint("stripejs", __name__)
