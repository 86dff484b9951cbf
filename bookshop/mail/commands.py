"""Shopkeeper commands: `quart --app bookshop mail list`, the messages not sent yet and why.

Recipients and errors are shown through `visible`: a shopper's email or a mail server's answer
cannot send control characters to the shopkeeper's terminal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from quart import Quart
from sqlalchemy import select

from bookshop.catalog.commands import opened
from bookshop.config import Settings
from bookshop.mail.schema import outbox
from bookshop.orders.schema import orders
from bookshop.stock.commands import table
from bookshop.text import visible


@dataclass(frozen=True)
class Waiting:
    """A message not sent yet: pending (tried again at `next_attempt_at`) or failed."""

    number: str | None
    kind: str
    recipient: str
    attempts: int
    next_attempt_at: datetime
    failed_at: datetime | None
    last_error: str | None


def register(app: Quart, settings: Settings) -> None:
    """Add the `mail` commands to the app's `quart` CLI."""

    @app.cli.group("mail")
    def mail_group() -> None:
        """The emails to shoppers (the outbox)."""

    @mail_group.command("list")
    def list_command() -> None:
        """Print the messages not sent yet: failed ones (given up) first, then pending ones
        in the order they will be tried, with their attempts and last error."""
        click.echo(format_waiting(asyncio.run(waiting(settings))))


async def waiting(settings: Settings) -> list[Waiting]:
    """The outbox's messages not sent yet, failed first, then by their next try."""
    query = (
        select(
            orders.c.number,
            outbox.c.kind,
            outbox.c.recipient,
            outbox.c.attempts,
            outbox.c.next_attempt_at,
            outbox.c.failed_at,
            outbox.c.last_error,
        )
        .join(orders, orders.c.intent_id == outbox.c.intent_id)
        .where(outbox.c.sent_at.is_(None))
        .order_by(outbox.c.failed_at.is_(None), outbox.c.next_attempt_at, outbox.c.id)
    )
    async with opened(settings) as database, database.reading() as connection:
        return [Waiting(**row._asdict()) for row in await connection.execute(query)]


def format_waiting(messages: list[Waiting]) -> str:
    """The messages as a table, or a line saying every message was sent."""
    if not messages:
        return "No mail waiting: every message has been sent."
    header = ("STATE", "ORDER", "KIND", "TO", "ATTEMPTS", "NEXT TRY (UTC)", "LAST ERROR")
    rows = [
        (
            "failed" if message.failed_at is not None else "pending",
            visible(message.number or "-"),
            message.kind,
            visible(message.recipient),
            str(message.attempts),
            "-" if message.failed_at is not None else moment(message.next_attempt_at),
            visible(message.last_error or "-"),
        )
        for message in messages
    ]
    failed = sum(message.failed_at is not None for message in messages)
    summary = f"{len(messages) - failed} pending, {failed} failed (given up: not tried again)."
    return f"{table(header, rows, right=range(4, 5))}\n{summary}"


def moment(value: datetime) -> str:
    """A time as the table shows it, in UTC (SQLite hands it back without its zone)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return f"{aware.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
