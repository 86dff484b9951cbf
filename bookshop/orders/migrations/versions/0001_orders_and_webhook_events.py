"""The first ledger: orders, one per PaymentIntent, and the webhook events already applied."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("intent_id", sa.String(255), primary_key=True),
        sa.Column("book_id", sa.String(255), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("decline_code", sa.String(255)),
        sa.Column("charge_id", sa.String(255)),
        sa.Column("amount_refunded", sa.BigInteger, nullable=False),
        sa.Column("stripe_seen", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("orders_by_status", "orders", ["status", "created_at"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("intent_id", sa.String(255)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    # The version table of the shop before Alembic, which 0002's downgrade puts back.
    if "schema_version" in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table("schema_version")
    op.drop_table("webhook_events")
    op.drop_index("orders_by_status", "orders")
    op.drop_table("orders")
