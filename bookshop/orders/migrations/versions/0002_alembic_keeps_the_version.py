"""Alembic keeps the schema's version: drop the table the shop's own runner kept it in."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "schema_version" in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table("schema_version")


def downgrade() -> None:
    # Back to what the shop's own runner expects to find at its version 1.
    table = op.create_table(
        "schema_version",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(table, [{"version": 1, "applied_at": datetime.now(UTC)}])
