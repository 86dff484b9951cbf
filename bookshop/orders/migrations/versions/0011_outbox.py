"""The mail outbox: each message to a shopper written with the change it tells of, then sent,
retried and marked by the shop's sender."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNSENT = sa.text("sent_at IS NULL")


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "intent_id",
            sa.String(255),
            sa.ForeignKey("orders.intent_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(320), nullable=False, unique=True),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", moment, nullable=False),
        sa.Column("claimed_until", moment),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("sent_at", moment),
        sa.Column("failed_at", moment),
        sa.Column("last_error", sa.String(300)),
    )
    # Only the messages not sent yet: the sender's query and the backlog's count.
    op.create_index(
        "outbox_unsent",
        "outbox",
        ["failed_at", "next_attempt_at"],
        sqlite_where=UNSENT,
        postgresql_where=UNSENT,
    )
    op.create_index("outbox_by_intent", "outbox", ["intent_id"])


def downgrade() -> None:
    op.drop_index("outbox_by_intent", "outbox")
    op.drop_index("outbox_unsent", "outbox")
    op.drop_table("outbox")
