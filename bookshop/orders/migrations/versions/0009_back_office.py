"""The back office: staff accounts and their sign-ins, an audit log of what staff did, when each
order was paid and shipped (with its carrier and tracking number), and books retired from sale."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled_at", moment),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", moment),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "staff_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("address", sa.String(64)),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("seen_at", moment, nullable=False),
    )
    op.create_index("staff_sessions_by_staff", "staff_sessions", ["staff_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", moment, nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("address", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("key", sa.String(128), unique=True),
    )
    op.create_index("audit_log_by_subject", "audit_log", ["subject", "id"])
    # Plain ADD COLUMNs, not a batch: SQLite would rebuild `books` and lose its search triggers.
    op.add_column("orders", sa.Column("paid_at", moment))
    op.add_column("orders", sa.Column("shipped_at", moment))
    op.add_column("orders", sa.Column("carrier", sa.String(100)))
    op.add_column("orders", sa.Column("tracking_number", sa.String(100)))
    op.create_index("orders_by_paid", "orders", ["paid_at"])
    # The back office lists orders newest first, and shows each order's webhook events.
    op.create_index("orders_by_created", "orders", ["created_at"])
    op.create_index("webhook_events_by_intent", "webhook_events", ["intent_id"])
    # Orders paid before this revision: their last write is the nearest to when.
    op.execute("UPDATE orders SET paid_at = updated_at WHERE status IN ('paid', 'refunded')")
    op.add_column("books", sa.Column("retired_at", moment))
    # The sitemap counts and lists the books on sale by id, from this index alone.
    on_sale = sa.text("retired_at IS NULL")
    op.create_index(
        "books_on_sale", "books", ["id"], sqlite_where=on_sale, postgresql_where=on_sale
    )


def downgrade() -> None:
    op.drop_index("books_on_sale", "books")
    op.drop_column("books", "retired_at")
    op.drop_index("webhook_events_by_intent", "webhook_events")
    op.drop_index("orders_by_created", "orders")
    op.drop_index("orders_by_paid", "orders")
    for column in ("tracking_number", "carrier", "shipped_at", "paid_at"):
        op.drop_column("orders", column)
    op.drop_table("audit_log")
    op.drop_table("staff_sessions")
    op.drop_table("staff")
