"""`quart --app bookshop mail list`: the messages not sent yet, failed ones first, with their
order number, kind, recipient, attempts, next try and last error; shoppers' text shown visibly.

These are plain `def` tests: the command runs its own event loop, as it does from a shell.
"""

from __future__ import annotations

from click.testing import Result

from bookshop import create_app
from bookshop.config import Settings
from bookshop.mail.sender import Sender
from bookshop.orders import Ledger
from tests.fixtures.database import run_async
from tests.mail.conftest import Clock, MailServer
from tests.mail.orders import EMAIL, pay


def run(settings: Settings, *args: str) -> Result:
    """Run a `quart --app bookshop` command against these settings."""
    result: Result = create_app(settings).test_cli_runner().invoke(args=list(args))
    return result


def given(settings: Settings, *intent_ids: str, **changes: object) -> list[str]:
    """Paid orders (each confirmation in the outbox) and one round of the sender; the orders'
    numbers."""

    async def write() -> list[str]:
        ledger = Ledger(settings.database_url)
        await ledger.open()
        try:
            numbers = []
            for intent_id in intent_ids:
                await pay(ledger, intent_id, **changes)
                order = await ledger.get(intent_id)
                assert order is not None
                numbers.append(order.number)
            await Sender(ledger.database, settings, clock=Clock()).run_once()
            return numbers
        finally:
            await ledger.close()

    return run_async(write())


def test_with_every_message_sent_it_says_so(
    mail_settings: Settings, mail_server: MailServer
) -> None:
    given(mail_settings, "pi_mail1")

    result = run(mail_settings, "mail", "list")

    assert result.exit_code == 0, result.output
    assert result.output == "No mail waiting: every message has been sent.\n"
    assert len(mail_server.deliveries) == 1


def test_it_lists_failed_then_pending_messages_with_why(
    mail_settings: Settings, mail_server: MailServer
) -> None:
    mail_server.refusals = 1
    (pending,) = given(mail_settings, "pi_mail1")
    evil = f"{EMAIL}\r\nBcc: \x1b[31mmallory@evil.test"
    (failed,) = given(mail_settings, "pi_mail2", email=evil)

    result = run(mail_settings, "mail", "list")

    assert result.exit_code == 0, result.output
    header, first, second, summary = result.output.splitlines()
    assert " ".join(header.split()) == "STATE ORDER KIND TO ATTEMPTS NEXT TRY (UTC) LAST ERROR"
    shown = "ada@example.com\\r\\nBcc: \\x1b[31mmallory@evil.test"
    assert first.split()[:3] == ["failed", failed, "confirmation"]
    assert f" {shown} " in first
    assert " 1  -  " in first  # one attempt, and no next try
    assert "Unwritable: the shopper's name or email cannot be a mail header" in first
    assert "\x1b" not in result.output and "\r" not in result.output
    assert second.split()[:5] == ["pending", pending, "confirmation", EMAIL, "1"]
    assert "SMTPDataError: (451, '4.3.0 Busy, try again later')" in second
    assert summary == "1 pending, 1 failed (given up: not tried again)."
