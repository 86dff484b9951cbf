"""Shopkeeper commands: `quart --app bookshop orders`, `reconcile`, `db upgrade`, `catalog`
(`import` and `export`, in bookshop/catalog/commands.py), `stock` (`set`, `add` and `list`, in
bookshop/stock/commands.py), `staff` (back office accounts, in bookshop/admin/commands.py) and
`mail list` (the outbox, in bookshop/mail/commands.py).

Every line shows what shoppers typed (names, addresses, emails) and what the catalog and Stripe
hold (titles, ids) through `visible`: a control, invisible or bidirectional character in them
is printed as an escape, never sent raw to the shopkeeper's terminal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
from quart import Quart

from bookshop.admin import commands as staff_commands
from bookshop.catalog import commands as catalog_commands
from bookshop.catalog.commands import shortened
from bookshop.config import Settings
from bookshop.database import Database
from bookshop.mail import commands as mail_commands
from bookshop.money import format_money
from bookshop.orders import ADDRESS_CHANGED, CHARGE_CHANGED, Change, Ledger, Order
from bookshop.orders.migrate import upgrade
from bookshop.orders.schema import PAID, REFUNDED
from bookshop.payments import Intent, Payments, PaymentsUnavailable
from bookshop.stock import commands as stock_commands
from bookshop.stock import keeper
from bookshop.text import visible

DEFAULT_RECONCILE_DAYS = 7
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@dataclass(frozen=True)
class Reconciliation:
    """What one reconcile run looked at and changed."""

    since: datetime
    checked: int
    changes: list[Change]


def register(app: Quart, settings: Settings) -> None:
    """Add the shopkeeper's commands to the app's `quart` CLI."""
    catalog_commands.register(app, settings)
    stock_commands.register(app, settings)
    staff_commands.register(app, settings)
    mail_commands.register(app, settings)

    @app.cli.command("orders")
    @click.option("--limit", default=50, show_default=True, help="How many orders to show.")
    def orders_command(limit: int) -> None:
        """Print recent orders, paid ones (to ship) first."""
        click.echo(format_orders(asyncio.run(recent_orders(settings, limit)), settings))

    @app.cli.group("db")
    def db_group() -> None:
        """The orders ledger's database."""

    @db_group.command("upgrade")
    def upgrade_command() -> None:
        """Bring the ledger's schema to the newest revision (the shop also does so as it starts)."""
        before, after = asyncio.run(upgrade_ledger(settings))
        if before == after:
            click.echo(f"Ledger already at the newest revision, {after}.")
        else:
            click.echo(f"Ledger upgraded from {before or 'nothing'} to {after}.")

    @app.cli.command("reconcile")
    @click.option(
        "--since",
        type=click.DateTime(formats=DATE_FORMATS),
        help=f"Check payments created since this date, UTC (default: {DEFAULT_RECONCILE_DAYS} "
        "days ago).",
    )
    def reconcile_command(since: datetime | None) -> None:
        """Repair the orders ledger from Stripe's PaymentIntents, printing each change."""
        start = (
            since.replace(tzinfo=UTC)
            if since is not None
            else datetime.now(UTC) - timedelta(days=DEFAULT_RECONCILE_DAYS)
        )
        try:
            result = asyncio.run(reconcile(settings, start))
        except PaymentsUnavailable:
            raise click.ClickException(
                "Stripe could not be reached, so nothing was changed; try again later."
            ) from None
        for change in result.changes:
            click.echo(describe_change(change, settings.locale))
        summary = f"Checked {result.checked} payments since {start:%Y-%m-%d %H:%M} UTC"
        if result.changes:
            click.echo(f"{summary}: repaired {len(result.changes)} orders.")
        else:
            click.echo(f"{summary}: nothing to change.")


async def recent_orders(settings: Settings, limit: int) -> list[Order]:
    """The newest orders from the ledger the settings name."""
    ledger = Ledger(settings.database_url)
    await ledger.open()
    try:
        return await ledger.recent(limit)
    finally:
        await ledger.close()


async def upgrade_ledger(settings: Settings) -> tuple[str | None, str]:
    """Migrate the ledger the settings name; its revision before and after."""
    database = Database(settings.database_url)
    await database.open()
    try:
        return await upgrade(database)
    finally:
        await database.close()


async def reconcile(settings: Settings, since: datetime) -> Reconciliation:
    """Apply every PaymentIntent Stripe has since `since` to the ledger, with the same updates."""
    payments = Payments(settings)
    ledger = Ledger(settings.database_url)
    try:
        intents = await payments.list_intents(since)
        await ledger.open()
        changes = [change for state in intents if (change := await ledger.apply_state(state))]
        # A payment found paid for copies that were gone is refunded now, as the shop would.
        for intent_id in await ledger.to_refund():
            before = await ledger.get(intent_id)
            refunded = await keeper.refund(ledger, payments, intent_id)
            after = await ledger.get(intent_id)
            if after is not None:
                changes.append(Change(intent_id, before, after, refunded))
    finally:
        payments.close()
        await ledger.close()
    return Reconciliation(since=since, checked=len(intents), changes=changes)


def describe_change(change: Change, locale: str) -> str:
    """One line per repaired order: its status before and after, what else changed, and a flag
    for review it now has (with what Stripe has instead)."""
    before, after = change.before, change.after
    was = before.status if before else "missing"
    line = f"{visible(change.intent_id)}: {was} -> {after.status}"
    if before is None:
        return line

    def money(amount: int) -> str:
        return format_money(amount, after.currency, locale)

    details = []
    if after.review and after.review != before.review:
        details.append(describe_review(after, before.review, change.stripe, locale))
    if before.lines != after.lines:
        details.append(f"lines {describe_lines(before)} -> {describe_lines(after)}")
    if before.amount != after.amount:
        details.append(f"amount {money(before.amount)} -> {money(after.amount)}")
    if before.shipping != after.shipping:
        details.append(f"delivery {money(before.shipping)} -> {money(after.shipping)}")
    if before.address != after.address:
        details.append(f"address -> {describe_address(after)}")
    if before.amount_refunded != after.amount_refunded:
        details.append(
            f"refunded {money(before.amount_refunded)} -> {money(after.amount_refunded)}"
        )
    return f"{line} ({', '.join(details)})" if details else line


def describe_review(order: Order, known: str | None, stripe: Intent | None, locale: str) -> str:
    """Why the order is flagged for review and, for each reason new since `known`, what Stripe
    has: "REVIEW: address changed at Stripe; Stripe has: Mallory, 1 Other Road, ..., SG"."""
    review, known = order.review or "", known or ""
    text = f"REVIEW: {visible(review)}"
    if stripe is None:
        return text
    if ADDRESS_CHANGED in review and ADDRESS_CHANGED not in known:
        text += f"; Stripe has: {describe_address(stripe)}"
    if CHARGE_CHANGED in review and CHARGE_CHANGED not in known:
        charged = format_money(stripe.amount, stripe.currency, locale)
        text += f"; Stripe has: {describe_lines(stripe)} for {charged}"
    return text


def describe_lines(order: Order | Intent) -> str:
    """An order's lines in a few words: "2 x code, 1 x hackers"."""
    lines = ", ".join(f"{line.quantity} x {line.book_id}" for line in order.lines)
    return visible(lines) or "none"


def describe_address(order: Order | Intent) -> str:
    """Where an order goes, on one line: "Ada Reader, 1 Straits View, Singapore 018937, SG"."""
    return visible(", ".join(order.address.lines())) if order.address else "none"


def format_orders(orders: list[Order], settings: Settings) -> str:
    """The orders as a plain-text table (a row per book, with the order's number and payment id,
    then why staff must review the order, if they must, and where it goes), or a line saying
    there are none. An order the shop refunds itself says why: `refunded: out of stock` once
    refunded, and not to ship it until then."""
    if not orders:
        return "No orders yet."
    header = ("STATUS", "BOOKS", "AMOUNT", "DELIVERY", "EMAIL", "TIME (UTC)", "ORDER", "PAYMENT")
    rows: list[tuple[str, ...]] = [header]
    notes: dict[int, list[str]] = {}  # row index -> the lines printed under it
    for order in orders:
        books = [f"{line.quantity} x {visible(shortened(line.title))}" for line in order.lines]
        books = books or ["-"]
        status = order.status
        if order.refund_reason and order.status == REFUNDED:
            status = f"{order.status}: {visible(order.refund_reason)}"
        rows.append(
            (
                status,
                books[0],
                format_money(order.amount, order.currency, settings.locale),
                format_money(order.shipping, order.currency, settings.locale)
                if order.address
                else "-",
                visible(order.email or "-"),
                f"{order.created_at.astimezone(UTC):%Y-%m-%d %H:%M}",
                order.number,
                visible(order.intent_id),
            )
        )
        rows.extend(("", more, "", "", "", "", "", "") for more in books[1:])
        under = notes[len(rows) - 1] = []
        if order.refund_reason and order.status == PAID:
            # Paid for copies that were gone: the shop refunds it within a minute or so.
            under.append(f"DO NOT SHIP: being refunded, {visible(order.refund_reason)}")
        if order.review:
            # Before the address: staff look into it before shipping anything.
            under.append(f"REVIEW: {visible(order.review)}")
        if order.address is not None:
            under.append(f"deliver to: {describe_address(order)}")
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    indent = " " * (widths[0] + 2)
    text = []
    for index, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        text.append("  ".join(cell.ljust(width) for cell, width in cells).rstrip())
        text.extend(indent + note for note in notes.get(index, ()))
    return "\n".join(text)
