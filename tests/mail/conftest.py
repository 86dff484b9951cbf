"""The mail tests' fixtures: a real SMTP server (aiosmtpd) on a free loopback port that keeps
what it accepts and refuses when told, a clock the tests move, and an open ledger."""

from __future__ import annotations

import email
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bookshop.config import Settings
from bookshop.mail.sender import Sender
from bookshop.orders import Ledger
from tests.fixtures.sandbox import free_port

PUBLIC_URL = "https://shop.test"


@dataclass
class Delivery:
    """A message the server accepted: its envelope and the message as parsed."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class MailServer:
    """The aiosmtpd handler: accepts each message, after refusing the next `refusals` with a 451
    (the server busy); `url` is SMTP_URL for it."""

    url: str = ""
    refusals: int = 0
    refused: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Refuse while told to, then keep the message."""
        with self.lock:
            if self.refusals > 0:
                self.refusals -= 1
                self.refused += 1
                return "451 4.3.0 Busy, try again later"
            message = email.message_from_bytes(envelope.original_content or b"", policy=default)
            assert isinstance(message, EmailMessage)
            self.deliveries.append(
                Delivery(envelope.mail_from or "", list(envelope.rcpt_tos), message)
            )
        return "250 2.0.0 Accepted"

    def messages(self, kind: str | None = None) -> list[EmailMessage]:
        """The messages accepted, oldest first; `kind`: those whose subject says it."""
        with self.lock:
            found = [delivery.message for delivery in self.deliveries]
        words = {"shipped": "on its way", "refunded": "refund", "confirmation": "Your order"}
        return [m for m in found if kind is None or words[kind] in str(m["Subject"])]


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """An SMTP server on a free loopback port, stopped after the test."""
    handler = MailServer()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="mail.test", ready_timeout=10
    )
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}"
    try:
        yield handler
    finally:
        controller.stop()


class Clock:
    """The sender's clock: the time now, plus however far the test moved it on (a retry's
    delay, a claim's lapse)."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` on."""
        self.ahead += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """The time now, until the test moves it on."""
    return Clock()


@pytest.fixture
def mail_settings(database_url: str, mail_server: MailServer) -> Settings:
    """Settings on this test's database (SQLite, then PostgreSQL) sending to `mail_server`."""
    return Settings(
        database_url=database_url,
        env="test",
        secret_key="test-secret",
        public_url=PUBLIC_URL,
        smtp_url=mail_server.url,
    )


@pytest.fixture
async def ledger(mail_settings: Settings) -> AsyncIterator[Ledger]:
    """An open ledger on the test's database."""
    ledger = Ledger(mail_settings.database_url)
    await ledger.open()
    yield ledger
    await ledger.close()


@pytest.fixture
def sender(ledger: Ledger, mail_settings: Settings, clock: Clock) -> Sender:
    """A sender on the ledger's database, on the test's clock."""
    return Sender(ledger.database, mail_settings, clock=clock)
