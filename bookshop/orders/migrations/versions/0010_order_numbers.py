"""Order numbers ("BK-7Q4M2X"): what shoppers and staff call an order, unique; every order made
before this revision gets a fresh random one."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bookshop.orders.numbers import new_number

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("number", sa.String(16)))
    connection = op.get_bind()
    intent_ids = connection.execute(sa.text("SELECT intent_id FROM orders")).scalars().all()
    taken: set[str] = set()
    numbered = []
    for intent_id in intent_ids:
        number = new_number()
        while number in taken:  # drawn twice: the unique index below would refuse it
            number = new_number()
        taken.add(number)
        numbered.append({"number": number, "intent_id": intent_id})
    if numbered:
        # One statement run for every row (executemany), not a round trip each.
        connection.execute(
            sa.text("UPDATE orders SET number = :number WHERE intent_id = :intent_id"), numbered
        )
    # SQLite cannot make a column NOT NULL in place: batch mode copies the table (indexes
    # included), as 0003 does. PostgreSQL alters it.
    with op.batch_alter_table("orders") as orders:
        orders.alter_column("number", existing_type=sa.String(16), nullable=False)
        orders.create_index("orders_by_number", ["number"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_index("orders_by_number")
        orders.drop_column("number")
