"""Orders of several books: each order's lines in their own table; every order so far had one."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bookshop.catalog.books import read_toml
from bookshop.config import SEED_FILE

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lines = op.create_table(
        "order_lines",
        sa.Column(
            "intent_id",
            sa.String(255),
            sa.ForeignKey("orders.intent_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("book_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
    )
    # Titles as the shop's catalog file had them then; a book that has left it keeps its id.
    titles = {book.id: book.title for book in read_toml(SEED_FILE)}
    orders = op.get_bind().execute(
        sa.text("SELECT intent_id, book_id, quantity, amount FROM orders")
    )
    op.bulk_insert(
        lines,
        [
            {
                "intent_id": order.intent_id,
                "position": 0,
                "book_id": order.book_id,
                "title": titles.get(order.book_id, order.book_id),
                "unit_price": order.amount // order.quantity if order.quantity else order.amount,
                "quantity": order.quantity,
            }
            for order in orders
        ],
    )
    # SQLite cannot drop a column in place: batch mode copies the table (indexes included).
    with op.batch_alter_table("orders") as orders_table:
        orders_table.drop_column("book_id")
        orders_table.drop_column("quantity")


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders_table:
        orders_table.add_column(
            sa.Column("book_id", sa.String(255), nullable=False, server_default="")
        )
        orders_table.add_column(
            sa.Column("quantity", sa.Integer, nullable=False, server_default="0")
        )
    # An order of several books keeps its first line in the old shape.
    op.execute(
        "UPDATE orders SET book_id = l.book_id, quantity = l.quantity FROM order_lines AS l "
        "WHERE l.intent_id = orders.intent_id AND l.position = 0"
    )
    op.drop_table("order_lines")
