"""The ledger's tables as the newest migration leaves them, and the records their rows read as."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from bookshop.address import FIELDS as ADDRESS_FIELDS
from bookshop.address import Address
from bookshop.database import metadata

OPEN, PAID, FAILED, CANCELED, REFUNDED = "open", "paid", "failed", "canceled", "refunded"
# Why a paid order is refunded by the shop itself: its copies were sold meanwhile.
OUT_OF_STOCK = "out of stock"
# The statuses a shopper can still pay from: what these orders charge may still change.
PAYABLE = (OPEN, FAILED)
# The statuses of an order that was paid: what it is for and where it goes are settled.
SETTLED = (PAID, REFUNDED)


orders = Table(
    "orders",
    metadata,
    Column("intent_id", String(255), primary_key=True),
    # What the shopper and staff call the order ("BK-7Q4M2X", bookshop/orders/numbers.py).
    Column("number", String(16), nullable=False),
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
    # What delivery cost (part of `amount`) and where the order goes: Stripe's `shipping`.
    Column("shipping", BigInteger, nullable=False, server_default=text("0")),
    *(Column(f"ship_{field}", String(255)) for field in ADDRESS_FIELDS),
    # Why staff must look at the order before shipping it (Stripe's intent disagrees with what
    # the shop checked, e.g. "address changed at Stripe"); None when nothing is amiss.
    Column("review", String(255)),
    # The browser session's checkout that paid (the intent's `metadata.checkout`).
    Column("checkout_id", String(64)),
    # Why the shop refunds (or refunded) this paid order itself, if it does.
    Column("refund_reason", String(64)),
    # When it was paid (the back office counts takings by it), and when it left, how and with
    # what tracking number.
    Column("paid_at", DateTime(timezone=True)),
    Column("shipped_at", DateTime(timezone=True)),
    Column("carrier", String(100)),
    Column("tracking_number", String(100)),
    Index("orders_by_paid", "paid_at"),
    Index("orders_by_created", "created_at"),
    # `make orders` lists paid orders first, newest first.
    Index("orders_by_status", "status", "created_at"),
    Index("orders_by_checkout", "checkout_id"),
    Index("orders_by_number", "number", unique=True),
)

# What each order is for: a book at a quantity, with its title and unit price at the time of sale.
order_lines = Table(
    "order_lines",
    metadata,
    Column(
        "intent_id",
        String(255),
        ForeignKey("orders.intent_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("book_id", String(255), nullable=False),
    Column("title", String(500), nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(255), nullable=False),
    Column("intent_id", String(255)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("webhook_events_by_intent", "intent_id"),
)


@dataclass(frozen=True)
class OrderLine:
    """One line of an order: a book, its title and unit price when sold, and how many."""

    book_id: str
    title: str
    unit_price: int
    quantity: int

    @property
    def total(self) -> int:
        """The line's price in minor units."""
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Order:
    """One checkout's payment as the shop records it."""

    intent_id: str
    number: str  # what the shopper and staff call it: "BK-7Q4M2X"
    lines: tuple[OrderLine, ...]
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
    shipping: int = 0
    address: Address | None = None
    review: str | None = None  # why staff must look at it before shipping, if they must
    checkout_id: str | None = None
    refund_reason: str | None = None  # why the shop refunds it itself (out of stock)
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    carrier: str | None = None
    tracking_number: str | None = None

    @classmethod
    def from_row(cls, row: Any, lines: tuple[OrderLine, ...]) -> Order:
        """The order an `orders` row holds, with its lines."""
        return cls(
            intent_id=row.intent_id,
            number=row.number,
            lines=lines,
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
            shipping=row.shipping,
            address=address_of(row),
            review=row.review,
            checkout_id=row.checkout_id,
            refund_reason=row.refund_reason,
            paid_at=_aware(row.paid_at) if row.paid_at is not None else None,
            shipped_at=_aware(row.shipped_at) if row.shipped_at is not None else None,
            carrier=row.carrier,
            tracking_number=row.tracking_number,
        )


def address_of(row: Any) -> Address | None:
    """The delivery address an `orders` row holds, if it has one."""
    if row.ship_country is None:
        return None
    return Address(*(getattr(row, f"ship_{field}") or "" for field in ADDRESS_FIELDS))


def address_columns(address: Address | None) -> dict[str, str | None]:
    """The `orders` columns that hold a delivery address (all None for none)."""
    values = asdict(address) if address is not None else {}
    return {f"ship_{field}": values.get(field) for field in ADDRESS_FIELDS}


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the ledger only ever writes UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
