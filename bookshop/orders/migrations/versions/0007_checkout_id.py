"""Each order's checkout (the intent's `metadata.checkout`), so a shopper who comes back to a
checkout whose payment's answer never reached them (a tab closed while paying) finds it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("checkout_id", sa.String(64)))
        orders.create_index("orders_by_checkout", ["checkout_id"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_index("orders_by_checkout")
        orders.drop_column("checkout_id")
