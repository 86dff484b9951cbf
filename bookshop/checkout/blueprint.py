"""The checkout's blueprint, which its pages, pay step and results each add routes to."""

from quart import Blueprint

blueprint = Blueprint("checkout", __name__)
