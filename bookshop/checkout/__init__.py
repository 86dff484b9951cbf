"""Checkout: where the books go, the order's summary, paying on the server, and the result."""

# Each module adds its routes to the blueprint as it is imported.
from bookshop.checkout import address_step, pages, pay, results  # noqa: F401
from bookshop.checkout.blueprint import blueprint

__all__ = ["blueprint"]
