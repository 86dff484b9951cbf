"""Stock: copies on hand per book, reserved for a checkout while it pays, then sold or released."""

from bookshop.stock.records import Changed, Hold, Short, StockError, StockLevel, StockMove
from bookshop.stock.store import Stock, stock

__all__ = [
    "Changed",
    "Hold",
    "Short",
    "Stock",
    "StockError",
    "StockLevel",
    "StockMove",
    "stock",
]
