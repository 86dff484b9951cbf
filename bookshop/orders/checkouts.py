"""The checkout's writes: what Stripe answered to each change the checkout made to its intent,
written while the order is payable, batched across concurrent checkouts.

The statements are built once: building a statement and its cache key is a large share of a
checkout's own work (docs/performance.md, "The ledger's writes").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, exists, func, or_, select

from bookshop.database import Database
from bookshop.orders.batching import GroupWriter
from bookshop.orders.schema import OPEN, PAYABLE, address_columns, order_lines, orders
from bookshop.orders.transitions import line_rows, line_values, now
from bookshop.payments import Intent


class CheckoutWrites:
    """Writes each checkout's intent to its order, many checkouts to a statement."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._upsert_order = self._checkout_upsert()
        self._write_lines, self._drop_lines = self._checkout_lines()
        self._checkouts = GroupWriter(self._write_checkouts)

    async def record(self, intent: Intent) -> None:
        """Write what Stripe answered to a checkout's change of its intent (created, its books,
        where they go, the receipt address) while the order is payable."""
        order = {
            "new_intent_id": intent.id,
            "new_amount": intent.amount,
            "new_currency": intent.currency,
            "new_email": intent.email,
            "new_shipping": intent.shipping,
            **{f"new_{name}": value for name, value in address_columns(intent.address).items()},
            "now": now(),
        }
        await self._checkouts.put({"order": order, "lines": line_rows(intent)})

    async def drain(self) -> None:
        """Finish the queued writes."""
        await self._checkouts.drain()

    def _checkout_upsert(self) -> Any:
        # Typed like their columns, so PostgreSQL need not infer the type of each placeholder.
        amount = bindparam("new_amount", type_=orders.c.amount.type)
        email = bindparam("new_email", type_=orders.c.email.type)
        stamp = bindparam("now", type_=orders.c.updated_at.type)
        # The delivery: what it costs and each line of the address, as the intent says.
        delivery = {
            name: bindparam(f"new_{name}", type_=orders.c[name].type)
            for name in ("shipping", *address_columns(None))
        }
        return (
            self.database.insert(orders)
            .values(
                intent_id=bindparam("new_intent_id", type_=orders.c.intent_id.type),
                amount=amount,
                **delivery,
                currency=bindparam("new_currency", type_=orders.c.currency.type),
                email=email,
                status=OPEN,
                attempts=0,
                amount_refunded=0,
                stripe_seen=0,
                created_at=stamp,
                updated_at=stamp,
            )
            .on_conflict_do_update(
                index_elements=[orders.c.intent_id],
                set_={
                    "amount": amount,
                    "email": func.coalesce(email, orders.c.email),
                    "updated_at": stamp,
                    **delivery,
                },
                # A paid order is what was paid for: a stale page can't change it.
                where=or_(*(orders.c.status == status for status in PAYABLE)),
            )
        )

    def _checkout_lines(self) -> tuple[Any, Any]:
        # A checkout's lines change while its order is payable, and only then: each line is
        # written over its position, then the positions past the new last one are dropped, so
        # the order never shows no lines at all.
        def payable(intent_id: Any) -> Any:
            # Spelled out: an IN list is an expanding parameter, which executemany refuses.
            return exists(
                select(orders.c.intent_id).where(
                    orders.c.intent_id == intent_id,
                    or_(*(orders.c.status == status for status in PAYABLE)),
                )
            )

        values = line_values()
        key = [order_lines.c.intent_id, order_lines.c.position]
        write = (
            self.database.insert(order_lines)
            .from_select(
                [column.name for column in order_lines.columns],
                select(*values).where(payable(values[0])),
            )
            .on_conflict_do_update(
                index_elements=key,
                set_={
                    name: getattr(self.database.insert(order_lines).excluded, name)
                    for name in ("book_id", "title", "unit_price", "quantity")
                },
            )
        )
        intent_id = bindparam("intent_id", type_=order_lines.c.intent_id.type)
        drop = delete(order_lines).where(
            order_lines.c.intent_id == intent_id,
            order_lines.c.position >= bindparam("count", type_=order_lines.c.position.type),
            payable(intent_id),
        )
        return write, drop

    async def _write_checkouts(self, checkouts: list[dict[str, Any]]) -> None:
        # Three statements for the whole batch, each run for every row (executemany). On SQLite
        # each commits by itself (no BEGIN, see database.py), so no shop process holds the write
        # lock while its event loop turns; a crash between them leaves lines that the next write,
        # or reconcile, puts right from Stripe. Only the newest write of each intent counts: the
        # positions an older one drops would cut the newer one's lines.
        checkouts = list({each["order"]["new_intent_id"]: each for each in checkouts}.values())
        async with self.database.one_statement() as connection:
            await connection.execute(self._upsert_order, [each["order"] for each in checkouts])
            lines = [row for each in checkouts for row in each["lines"]]
            if lines:
                await connection.execute(self._write_lines, lines)
            await connection.execute(
                self._drop_lines,
                [
                    {"intent_id": each["order"]["new_intent_id"], "count": len(each["lines"])}
                    for each in checkouts
                ],
            )
