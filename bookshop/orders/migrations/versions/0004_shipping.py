"""Where each order goes and what its delivery cost; orders so far had no address."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ADDRESS = ("name", "line1", "line2", "city", "state", "postal_code", "country", "phone")


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(
            sa.Column("shipping", sa.BigInteger, nullable=False, server_default=sa.text("0"))
        )
        for field in ADDRESS:
            orders.add_column(sa.Column(f"ship_{field}", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        for field in ADDRESS:
            orders.drop_column(f"ship_{field}")
        orders.drop_column("shipping")
