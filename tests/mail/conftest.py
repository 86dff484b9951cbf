"""The mail tests' fixtures: a clock the tests move, settings sending to the real SMTP server of
`tests/fixtures/mail.py`, an open ledger and a sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bookshop.config import Settings
from bookshop.mail.sender import Sender
from bookshop.orders import Ledger
from tests.fixtures.mail import MailServer

PUBLIC_URL = "https://shop.test"


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
