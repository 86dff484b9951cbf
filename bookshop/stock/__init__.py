"""Stock: copies on hand per book, reserved for a checkout while it pays, then sold or released."""

from bookshop.stock.store import Hold, Short, Stock, StockError, StockLevel, StockMove, stock

__all__ = ["Hold", "Short", "Stock", "StockError", "StockLevel", "StockMove", "stock"]
