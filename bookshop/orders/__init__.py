"""The orders ledger: the shop's own record of every payment, kept in line with Stripe."""

from bookshop.orders.events import EventResult
from bookshop.orders.ledger import Ledger, ledger
from bookshop.orders.schema import PAYABLE, Order
from bookshop.orders.transitions import ADDRESS_CHANGED, CHARGE_CHANGED, Change

__all__ = [
    "ADDRESS_CHANGED",
    "CHARGE_CHANGED",
    "PAYABLE",
    "Change",
    "EventResult",
    "Ledger",
    "Order",
    "ledger",
]
