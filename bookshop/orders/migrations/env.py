"""Alembic's environment for the ledger: migrations run on the connection the shop hands over."""

from __future__ import annotations

from alembic import context

from bookshop.catalog import schema as catalog_schema  # noqa: F401 - declares its tables
from bookshop.database import metadata
from bookshop.orders import schema as orders_schema  # noqa: F401 - declares its tables

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run the ledger's migrations through the shop: quart --app bookshop db upgrade"
    )
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
