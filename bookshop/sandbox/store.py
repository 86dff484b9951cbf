"""The sandbox's state machine: the changes Stripe allows to the objects kept in memory.

One `Store` per sandbox, put together from a module per kind of object: `records` (what is kept,
events), `methods` (PaymentMethods), `confirmation_tokens`, `intents` (PaymentIntents' state
machine) and `charges` (charges and refunds); `listing` pages through any of them.
"""

from __future__ import annotations

from bookshop.sandbox.charges import Charges
from bookshop.sandbox.intents import CardDeclined, PaymentIntents
from bookshop.sandbox.listing import paginate
from bookshop.sandbox.records import Collection, RequestContext

__all__ = ["CardDeclined", "Collection", "RequestContext", "Store", "paginate"]


class Store(PaymentIntents, Charges):
    """All sandbox state. Methods never await, so each runs atomically on the event loop."""
