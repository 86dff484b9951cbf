"""The sender: delivers the outbox's messages over SMTP, each once, from however many shop
processes.

Each round it claims every due message with a conditional update (`sent_at` empty and no live
claim), so with several processes exactly one sends each; writes it from the order as it is now;
hands it to the mail server (SMTP_URL; without it, outside production, the sandbox's SMTP); and
marks it sent. A refusal, a connection error or a timeout is tried again later, 30 s then doubling
up to an hour, with jitter, for MAX_ATTEMPTS attempts; then the message stays failed and `quart
--app bookshop mail list` shows it. A message that can never be written (a header refused the
shopper's name or email) is given up at once.

The one possible repeat: a process that dies (or loses its database) after the mail server
accepted a message and before `sent_at` is written. Its claim lapses after CLAIM_SECONDS and
another round sends the message again, with the same Message-ID. Marking it first would turn that
repeat into a message never sent; SMTP has no way to ask whether a message arrived, so the shop
takes the rare repeat over the silent loss. Nothing else repeats a message: a process that dies
before the server accepted it sends it once, when the claim lapses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from bookshop import metrics
from bookshop.config import Settings
from bookshop.database import Database
from bookshop.mail.messages import Messages, Outgoing, Unwritable
from bookshop.mail.schema import outbox
from bookshop.orders.transitions import Transitions
from bookshop.stock import Stock
from bookshop.text import visible

log = logging.getLogger(__name__)

EVERY_SECONDS = 5.0
# How many messages a round takes; a full round is followed by another at once.
BATCH = 50
MAX_ATTEMPTS = 20
FIRST_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 3600.0
# The whole of one delivery (connect, TLS, login, the message) must end within SEND_SECONDS, and
# a claim outlives it by far: a message is only taken from a sender that has stopped.
SEND_SECONDS = 60.0
CLAIM_SECONDS = 300.0
LAST_ERROR_LENGTH = 300
# What a claim reads of the row: an `Outgoing`.
CLAIMED = ("id", "intent_id", "kind", "key", "recipient", "payload", "attempts")
_jitter = random.SystemRandom()


@dataclass(frozen=True)
class MailServer:
    """Where messages go, from SMTP_URL: host, port, TLS and login."""

    host: str
    port: int
    use_tls: bool = False
    # STARTTLS: None when the server offers it, False never (the sandbox speaks plain SMTP).
    start_tls: bool | None = None
    username: str | None = None
    password: str | None = None


def mail_server(settings: Settings) -> MailServer:
    """The mail server the settings name: SMTP_URL (smtps:// is TLS from the start, port 465;
    smtp:// upgrades with STARTTLS when offered, port 587 with a login, 25 without), or with none
    the sandbox's SMTP on 127.0.0.1 (settings refuse production without SMTP_URL)."""
    if settings.smtp_url is None:
        return MailServer("127.0.0.1", settings.sandbox_smtp_port, start_tls=False)
    url = urlsplit(settings.smtp_url)
    username = unquote(url.username) if url.username else None
    password = unquote(url.password) if url.password else None
    tls = url.scheme == "smtps"
    port = url.port or (465 if tls else 587 if username else 25)
    return MailServer(
        host=url.hostname or "",
        port=port,
        use_tls=tls,
        start_tls=False if tls else None,
        username=username,
        password=password,
    )


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: 30 s doubling to an hour,
    with a tenth either way, so messages refused together do not all come back together."""
    delay = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0 ** max(0, attempts - 1))
    return delay * _jitter.uniform(0.9, 1.1)


def describe(error: BaseException) -> str:
    """An error as `last_error` keeps it: its kind and message, on one line, short. Never the
    SMTP URL (the only secret near a delivery): no message here is built from it."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return visible(" ".join(text.split()))[:LAST_ERROR_LENGTH]


class Sender:
    """Delivers the outbox from one shop process; any number may run against one database."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.server = mail_server(settings)
        self.messages = Messages(settings)
        self.transitions = Transitions(database, Stock(database))
        # Whose claim a row holds: the host and process, and which sender in it.
        self.name = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.stopping = False

    async def run(self) -> None:
        """Send what is due every few seconds until the shop stops (cancelled). Cancelled
        mid-round, it first finishes the message in hand: a query cut off by cancellation can
        leave SQLite's driver waiting forever, and a message sent but not yet marked sent would
        be sent again."""
        while True:
            round_ = asyncio.ensure_future(self._round())
            try:
                taken = await asyncio.shield(round_)
            except asyncio.CancelledError:
                self.stopping = True
                await round_
                raise
            if taken < BATCH:
                await asyncio.sleep(EVERY_SECONDS)

    async def _round(self) -> int:
        try:
            return await self.run_once()
        except Exception:
            # A database outage or a bug must not stop the next rounds; the log names it.
            log.exception("sending mail failed; trying again")
            return 0

    async def run_once(self) -> int:
        """One round: claim the due messages and deliver each; how many it claimed (sent,
        put off or given up). The backlog's gauge is updated after."""
        claimed = 0
        for row_id in await self._due():
            if self.stopping:
                break
            outgoing = await self._claim(row_id)
            if outgoing is None:
                continue  # another sender took it
            claimed += 1
            await self._deliver(outgoing)
        await self._count_backlog()
        return claimed

    async def _due(self) -> list[int]:
        query = (
            select(outbox.c.id)
            .where(
                outbox.c.sent_at.is_(None),
                outbox.c.failed_at.is_(None),
                outbox.c.next_attempt_at <= self.clock(),
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(BATCH)
        )
        async with self.database.reading() as connection:
            return list((await connection.execute(query)).scalars())

    async def _claim(self, row_id: int) -> Outgoing | None:
        # The conditional update decides: of several senders, the one whose update matched.
        moment = self.clock()
        claim = (
            update(outbox)
            .where(
                outbox.c.id == row_id,
                outbox.c.sent_at.is_(None),
                outbox.c.failed_at.is_(None),
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < moment),
            )
            .values(claimed_until=moment + timedelta(seconds=CLAIM_SECONDS), claimed_by=self.name)
            .returning(*(outbox.c[name] for name in CLAIMED))
        )
        async with self.database.one_statement() as connection:
            row = (await connection.execute(claim)).first()
        if row is None:
            return None
        return Outgoing(**{**row._asdict(), "payload": json.loads(row.payload)})

    async def _deliver(self, outgoing: Outgoing) -> None:
        try:
            message = await self._write(outgoing)
        except Unwritable as refused:
            log.error("mail %s can never be sent: %s", outgoing.key, describe(refused))
            await self._failed(outgoing, refused, give_up=True)
            return
        except (SQLAlchemyError, OSError):
            raise  # the database: the claim lapses and a later round tries again
        except Exception as error:
            # A bug in writing it: kept and tried later (a fix may be deployed meanwhile).
            log.exception("mail %s could not be written", outgoing.key)
            await self._failed(outgoing, error)
            return
        try:
            await self._send(outgoing, message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            log.warning("mail %s not sent: %s", outgoing.key, describe(error))
            await self._failed(outgoing, error)
            return
        # The one step whose loss repeats a message: see the module's docstring.
        await self._sent(outgoing)

    async def _write(self, outgoing: Outgoing) -> EmailMessage:
        async with self.database.reading() as connection:
            order = await self.transitions.get(connection, outgoing.intent_id)
        if order is None:
            raise Unwritable("its order is no longer in the ledger")
        return self.messages.write(outgoing, order, self.clock())

    async def _send(self, outgoing: Outgoing, message: EmailMessage) -> None:
        """Hand the message to the mail server; it returns once the server has accepted it."""
        server = self.server
        async with asyncio.timeout(SEND_SECONDS):
            # The envelope names the one recipient: no header can add another.
            await aiosmtplib.send(
                message,
                sender=self.settings.mail_from,
                recipients=[outgoing.recipient],
                hostname=server.host,
                port=server.port,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                username=server.username,
                password=server.password,
                timeout=SEND_SECONDS,
            )

    async def _sent(self, outgoing: Outgoing) -> None:
        """Mark the message sent: the step after which it is never sent again."""
        async with self.database.one_statement() as connection:
            await connection.execute(
                update(outbox)
                .where(outbox.c.id == outgoing.id, outbox.c.sent_at.is_(None))
                .values(sent_at=self.clock(), claimed_until=None, last_error=None)
            )

    async def _failed(
        self, outgoing: Outgoing, error: BaseException, *, give_up: bool = False
    ) -> None:
        # Counted, put off and released in one statement (released first, another sender could
        # take it before it is put off); given up after MAX_ATTEMPTS, or at once. Only while the
        # claim is this sender's: a lapsed one may be another's by now.
        moment = self.clock()
        attempts = outgoing.attempts + 1
        given_up = give_up or attempts >= MAX_ATTEMPTS
        async with self.database.one_statement() as connection:
            await connection.execute(
                update(outbox)
                .where(
                    outbox.c.id == outgoing.id,
                    outbox.c.sent_at.is_(None),
                    outbox.c.claimed_by == self.name,
                )
                .values(
                    attempts=attempts,
                    next_attempt_at=moment + timedelta(seconds=backoff(attempts)),
                    failed_at=moment if given_up else None,
                    claimed_until=None,
                    claimed_by=None,
                    last_error=describe(error),
                )
            )
        if given_up:
            log.error("mail %s given up after %d attempts", outgoing.key, attempts)

    async def _count_backlog(self) -> None:
        query = select(
            func.count().filter(outbox.c.failed_at.is_(None)),
            func.count().filter(outbox.c.failed_at.is_not(None)),
        ).where(outbox.c.sent_at.is_(None))
        async with self.database.reading() as connection:
            pending, failed = (await connection.execute(query)).one()
        metrics.outbox_backlog(pending, failed)
