"""The sender: each message delivered once over real SMTP (aiosmtpd), tried again with backoff
while the server refuses or is down, given up after MAX_ATTEMPTS; the one repeat a crash can
cause is the step between the server's acceptance and `sent_at`; several senders on one
PostgreSQL send each message once."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from quart import Quart

from bookshop import metrics
from bookshop.config import Settings
from bookshop.database import Database
from bookshop.mail import sender as sending
from bookshop.mail.sender import CLAIM_SECONDS, MAX_ATTEMPTS, MailServer, Sender, mail_server
from bookshop.orders import Ledger
from tests.fixtures.sandbox import free_port
from tests.mail.conftest import Clock
from tests.mail.conftest import MailServer as CatchingServer
from tests.mail.orders import EMAIL, outbox_rows, pay


class Killed(BaseException):
    """The shop process dying at this step (nothing after it runs)."""


async def test_a_message_is_delivered_once_and_marked_sent(
    ledger: Ledger, sender: Sender, mail_server: CatchingServer, mail_settings: Settings
) -> None:
    await pay(ledger)

    assert await sender.run_once() == 1
    assert await sender.run_once() == 0

    (delivery,) = mail_server.deliveries
    assert (delivery.mail_from, delivery.rcpt_tos) == (mail_settings.mail_from, [EMAIL])
    (row,) = await outbox_rows(ledger)
    assert row.sent_at is not None
    assert (row.attempts, row.claimed_until, row.last_error) == (0, None, None)


async def test_a_server_refusing_twice_gets_the_message_on_the_third_attempt_once(
    ledger: Ledger, sender: Sender, mail_server: CatchingServer, clock: Clock
) -> None:
    mail_server.refusals = 2
    await pay(ledger)

    assert await sender.run_once() == 1  # refused: tried again in about 30 s
    (row,) = await outbox_rows(ledger)
    assert (row.attempts, row.sent_at, row.claimed_until) == (1, None, None)
    assert "451" in row.last_error
    assert await sender.run_once() == 0  # not due yet
    clock.advance(35)
    assert await sender.run_once() == 1  # refused again: about 60 s now
    clock.advance(35)
    assert await sender.run_once() == 0
    clock.advance(35)
    assert await sender.run_once() == 1
    assert await sender.run_once() == 0

    assert mail_server.refused == 2
    assert len(mail_server.deliveries) == 1
    (row,) = await outbox_rows(ledger)
    assert row.sent_at is not None
    assert row.attempts == 2


async def test_a_server_that_is_down_gets_the_message_once_it_is_up(
    ledger: Ledger, mail_settings: Settings, mail_server: CatchingServer, clock: Clock
) -> None:
    await pay(ledger)
    down = replace(mail_settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")

    assert await Sender(ledger.database, down, clock=clock).run_once() == 1

    (row,) = await outbox_rows(ledger)
    assert (row.attempts, row.sent_at) == (1, None)
    assert "Connect" in row.last_error
    clock.advance(35)
    assert await Sender(ledger.database, mail_settings, clock=clock).run_once() == 1
    assert len(mail_server.deliveries) == 1


async def test_a_message_refused_every_time_is_given_up_after_max_attempts(
    ledger: Ledger, sender: Sender, mail_server: CatchingServer, clock: Clock
) -> None:
    mail_server.refusals = MAX_ATTEMPTS + 5
    await pay(ledger)

    for _ in range(MAX_ATTEMPTS + 3):
        await sender.run_once()
        clock.advance(2 * 3600)

    assert mail_server.refused == MAX_ATTEMPTS
    (row,) = await outbox_rows(ledger)
    assert row.attempts == MAX_ATTEMPTS
    assert row.failed_at is not None and row.sent_at is None
    assert "451" in row.last_error


async def test_the_repeat_a_crash_can_cause_is_after_the_server_accepted_and_before_sent_at(
    ledger: Ledger,
    sender: Sender,
    mail_server: CatchingServer,
    mail_settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await pay(ledger)

    async def dies(*args: object) -> None:
        raise Killed

    # Killed once the server has the message, before it is marked sent.
    monkeypatch.setattr(sender, "_sent", dies)
    with pytest.raises(Killed):
        await sender.run_once()
    assert len(mail_server.deliveries) == 1

    restarted = Sender(ledger.database, mail_settings, clock=clock)
    assert await restarted.run_once() == 0  # the dead sender's claim holds
    clock.advance(CLAIM_SECONDS + 1)
    assert await restarted.run_once() == 1
    assert await restarted.run_once() == 0

    first, second = (delivery.message for delivery in mail_server.deliveries)
    assert first["Message-ID"] == second["Message-ID"]
    assert (await outbox_rows(ledger))[0].sent_at is not None


@pytest.mark.parametrize("step", ["_write", "_send"])
async def test_a_crash_before_the_server_accepted_the_message_sends_it_once(
    ledger: Ledger,
    sender: Sender,
    mail_server: CatchingServer,
    mail_settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    await pay(ledger)

    async def dies(*args: object) -> None:
        raise Killed

    # Killed once the message is claimed: while it is written, or handed to the server.
    monkeypatch.setattr(sender, step, dies)
    with pytest.raises(Killed):
        await sender.run_once()
    assert mail_server.deliveries == []

    restarted = Sender(ledger.database, mail_settings, clock=clock)
    clock.advance(CLAIM_SECONDS + 1)
    assert await restarted.run_once() == 1
    assert await restarted.run_once() == 0
    assert len(mail_server.deliveries) == 1


@pytest.mark.postgres
async def test_two_shop_processes_on_postgresql_send_200_messages_none_twice(
    postgres_url: str, mail_server: CatchingServer
) -> None:
    settings = Settings(database_url=postgres_url, env="test", smtp_url=mail_server.url)
    ledger = Ledger(postgres_url)
    await ledger.open()
    other = Database(postgres_url)  # the second process's own engine
    await other.open()
    try:
        await asyncio.gather(*(pay(ledger, f"pi_many{n:03}") for n in range(200)))
        senders = [Sender(ledger.database, settings), Sender(other, settings)]

        claimed: list[int] = [0, 0]
        while True:
            rounds = await asyncio.gather(*(each.run_once() for each in senders))
            claimed = [total + taken for total, taken in zip(claimed, rounds, strict=True)]
            if rounds == [0, 0]:
                break
    finally:
        await other.close()
        rows = await outbox_rows(ledger)
        await ledger.close()

    assert sum(claimed) == 200
    assert all(claimed), f"both senders sent some: {claimed}"
    ids = [str(delivery.message["Message-ID"]) for delivery in mail_server.deliveries]
    assert len(ids) == 200
    assert len(set(ids)) == 200
    assert all(row.sent_at is not None for row in rows)


async def test_the_sender_task_sends_until_cancelled(
    ledger: Ledger, sender: Sender, mail_server: CatchingServer
) -> None:
    await pay(ledger)

    task = asyncio.create_task(sender.run())
    try:
        async with asyncio.timeout(10):
            while not mail_server.deliveries:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(mail_server.deliveries) == 1


async def test_a_sender_stopped_mid_round_marks_the_message_in_hand_sent_and_takes_no_other(
    ledger: Ledger, sender: Sender, mail_server: CatchingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pay(ledger, "pi_mail1")
    await pay(ledger, "pi_mail2")
    marking, stopped = asyncio.Event(), asyncio.Event()
    mark_sent = sender._sent

    async def held(outgoing: object) -> None:
        # The shop stops while the first message, accepted by the server, is being marked sent.
        marking.set()
        await stopped.wait()
        await mark_sent(outgoing)  # type: ignore[arg-type]

    monkeypatch.setattr(sender, "_sent", held)
    task = asyncio.create_task(sender.run())
    async with asyncio.timeout(10):
        await marking.wait()
    task.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the task before the step goes on
    stopped.set()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(mail_server.deliveries) == 1
    first, second = await outbox_rows(ledger)
    assert first.sent_at is not None  # not sent again once the shop is back
    assert (second.sent_at, second.claimed_until, second.attempts) == (None, None, 0)


def test_the_mail_server_comes_from_smtp_url() -> None:
    def server(url: str | None) -> MailServer:
        return mail_server(Settings(smtp_url=url, sandbox_smtp_port=12026))

    assert server(None) == MailServer("127.0.0.1", 12026, start_tls=False)
    assert server("smtp://relay.example") == MailServer("relay.example", 25)
    assert server("smtp://shop%40x.example:p%40ss%3Aw0rd@mail.example") == MailServer(
        "mail.example", 587, username="shop@x.example", password="p@ss:w0rd"
    )
    assert server("smtps://u:p@mail.example") == MailServer(
        "mail.example", 465, use_tls=True, start_tls=False, username="u", password="p"
    )
    assert server("smtp://u:p@mail.example:2525").port == 2525


class Logins:
    """An aiosmtpd authenticator that accepts one login and remembers every one tried."""

    def __init__(self) -> None:
        self.tried: list[tuple[bytes, bytes]] = []

    def __call__(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.tried.append((data.login, data.password))
        ok = (data.login, data.password) == (b"shop@x.example", b"p@ss:w0rd")
        return AuthResult(success=ok)


# Plain-text AUTH on loopback, as a test: aiosmtpd warns of it, rightly, anywhere else.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_the_user_and_password_in_smtp_url_log_in(
    ledger: Ledger, mail_settings: Settings, clock: Clock
) -> None:
    handler = CatchingServer()
    logins = Logins()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="mail.test",
        ready_timeout=10,
        authenticator=logins,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        await pay(ledger)
        url = f"smtp://shop%40x.example:p%40ss%3Aw0rd@127.0.0.1:{port}"
        await Sender(ledger.database, replace(mail_settings, smtp_url=url), clock=clock).run_once()
    finally:
        controller.stop()

    assert logins.tried == [(b"shop@x.example", b"p@ss:w0rd")]
    assert len(handler.deliveries) == 1


def test_backoff_doubles_from_30_seconds_to_an_hour_with_jitter() -> None:
    assert 27 <= sending.backoff(1) <= 33
    assert 54 <= sending.backoff(2) <= 66
    assert 3240 <= sending.backoff(9) <= 3960
    assert 3240 <= sending.backoff(30) <= 3960
    assert len({sending.backoff(3) for _ in range(20)}) > 1


async def test_each_round_sets_the_backlog_gauge_to_the_messages_pending_and_failed(
    ledger: Ledger,
    sender: Sender,
    mail_server: CatchingServer,
    mail_settings: Settings,
    clock: Clock,
) -> None:
    def backlog(state: str) -> float | None:
        return metrics.made().registry.get_sample_value(
            "bookshop_mail_outbox_messages", {"state": state}
        )

    metrics.install(Quart(__name__), replace(mail_settings, metrics_bind=("127.0.0.1", 9)))
    try:
        mail_server.refusals = 1
        await pay(ledger, "pi_refused")
        await pay(ledger, "pi_unwritable", email=f"{EMAIL}\r\nBcc: mallory@evil.test")
        await sender.run_once()
        assert (backlog("pending"), backlog("failed")) == (1, 1)
        clock.advance(35)
        await sender.run_once()
        assert (backlog("pending"), backlog("failed")) == (0, 1)
    finally:
        metrics.install(Quart(__name__), mail_settings)  # off again, as the other tests expect
