"""Checkout: where the books go, the order's summary, paying on the server, the result, and the
shopper's page of a paid order."""

# Each module adds its routes to the blueprint as it is imported.
from bookshop.checkout import address_step, order_page, pages, pay, results  # noqa: F401
from bookshop.checkout.blueprint import blueprint

__all__ = ["blueprint"]
