"""The ledger's tables as the newest migration leaves them, and the record an order row reads as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table

OPEN, PAID, FAILED, CANCELED, REFUNDED = "open", "paid", "failed", "canceled", "refunded"
STATUSES = (OPEN, PAID, FAILED, CANCELED, REFUNDED)
# The statuses a shopper can still pay from: a checkout may change these orders' quantity.
PAYABLE = (OPEN, FAILED)

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("intent_id", String(255), primary_key=True),
    Column("book_id", String(255), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("email", String(254)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("decline_code", String(255)),
    Column("charge_id", String(255)),
    Column("amount_refunded", BigInteger, nullable=False),
    Column("stripe_seen", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # `make orders` lists paid orders first, newest first.
    Index("orders_by_status", "status", "created_at"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(255), nullable=False),
    Column("intent_id", String(255)),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Order:
    """One checkout's payment as the shop records it."""

    intent_id: str
    book_id: str
    quantity: int
    amount: int
    currency: str
    email: str | None
    status: str
    attempts: int
    decline_code: str | None
    charge_id: str | None
    amount_refunded: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Order:
        """The order an `orders` row holds."""
        return cls(
            intent_id=row.intent_id,
            book_id=row.book_id,
            quantity=row.quantity,
            amount=row.amount,
            currency=row.currency,
            email=row.email,
            status=row.status,
            attempts=row.attempts,
            decline_code=row.decline_code,
            charge_id=row.charge_id,
            amount_refunded=row.amount_refunded,
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
        )


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the ledger only ever writes UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
