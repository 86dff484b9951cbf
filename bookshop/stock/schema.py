"""Stock's tables as the newest migration leaves them."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, String, Table

from bookshop.database import metadata

HELD, RELEASED, SOLD = "held", "released", "sold"
# What moved copies, as `stock list --book` shows it.
SET, DELIVERY, RESERVED, RELEASE, SALE = "set", "delivery", "reserved", "released", "sold"
# Copies of a refunded order put back on hand by staff.
RETURN = "returned"

# One row per book the shop counts; a book without one is not limited.
book_stock = Table(
    "book_stock",
    metadata,
    Column("book_id", String(60), primary_key=True),
    # Copies in the shop, reserved ones included; sold ones have left it.
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("sold", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "reserved >= 0 AND reserved <= on_hand AND sold >= 0", name="stock_never_below_zero"
    ),
)

# The copies one checkout holds while it pays, a row per book: held, then sold or released once.
reservations = Table(
    "reservations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("checkout_id", String(64), nullable=False),
    Column("intent_id", String(255)),
    Column("book_id", String(60), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("reservations_by_status", "status", "expires_at"),
    Index("reservations_by_checkout", "checkout_id", "status"),
    Index("reservations_by_intent", "intent_id"),
)

# Every change to a book's stock, with what made it: an order, a checkout or a command.
stock_moves = Table(
    "stock_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book_id", String(60), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quantity", Integer, nullable=False),
    # The book's stock once moved.
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("reference", String(255), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("stock_moves_by_book", "book_id", "id"),
)
