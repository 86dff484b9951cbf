"""The orders ledger: the shop's own record of every payment, kept in line with Stripe."""

from bookshop.orders.ledger import Change, EventResult, Ledger, ledger
from bookshop.orders.schema import PAYABLE, Order

__all__ = ["PAYABLE", "Change", "EventResult", "Ledger", "Order", "ledger"]
