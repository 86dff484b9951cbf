"""Stock: copies on hand per book, reservations while a checkout pays, and a record of each move;
orders paid for copies that were gone carry why they were refunded."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "book_stock",
        sa.Column("book_id", sa.String(60), primary_key=True),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("sold", sa.Integer, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= on_hand AND sold >= 0", name="stock_never_below_zero"
        ),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("checkout_id", sa.String(64), nullable=False),
        sa.Column("intent_id", sa.String(255)),
        sa.Column("book_id", sa.String(60), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", moment, nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
    )
    op.create_index("reservations_by_status", "reservations", ["status", "expires_at"])
    op.create_index("reservations_by_checkout", "reservations", ["checkout_id", "status"])
    op.create_index("reservations_by_intent", "reservations", ["intent_id"])
    op.create_table(
        "stock_moves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("book_id", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(255), nullable=False),
        sa.Column("at", moment, nullable=False),
    )
    op.create_index("stock_moves_by_book", "stock_moves", ["book_id", "id"])
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("refund_reason", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("refund_reason")
    op.drop_table("stock_moves")
    op.drop_table("reservations")
    op.drop_table("book_stock")
