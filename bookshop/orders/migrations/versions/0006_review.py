"""Orders flagged for review: why staff must look at one before shipping it (Stripe's intent
disagrees with what the shop checked, such as an address changed at Stripe)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("review", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("review")
