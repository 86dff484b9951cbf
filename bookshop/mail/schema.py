"""The outbox's table as the newest migration leaves it, and the kinds of message it holds."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, text

from bookshop.database import metadata

# The order's confirmation once paid, its shipping notice, and a notice for each refund.
CONFIRMATION, SHIPPED, REFUNDED = "confirmation", "shipped", "refunded"
# The messages not sent yet: pending ones (failed_at empty), and the few given up.
UNSENT = "sent_at IS NULL"

# One row per message to send, written in the transaction of the change it tells of.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "intent_id",
        String(255),
        ForeignKey("orders.intent_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(16), nullable=False),
    # What makes a message one: `confirmation:<intent>`, `shipped:<intent>`,
    # `refunded:<intent>:<amount refunded in all>`; a second write of it adds nothing.
    Column("key", String(320), nullable=False, unique=True),
    Column("recipient", String(254), nullable=False),
    # What the order cannot say at send time, as JSON (a refund's amounts); the rest is read
    # from the order when the message is written.
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    # A sender's claim: no other sender takes the message until it lapses.
    Column("claimed_until", DateTime(timezone=True)),
    Column("claimed_by", String(100)),
    Column("sent_at", DateTime(timezone=True)),
    # Given up on: the message cannot be written (a header refused) or every attempt failed.
    Column("failed_at", DateTime(timezone=True)),
    Column("last_error", String(300)),
    # The sender's query (failed_at empty, next_attempt_at due) and the backlog's count read
    # only the messages not sent yet, however many were sent before.
    Index(
        "outbox_unsent",
        "failed_at",
        "next_attempt_at",
        sqlite_where=text(UNSENT),
        postgresql_where=text(UNSENT),
    ),
    Index("outbox_by_intent", "intent_id"),
)
