"""The sandbox's SMTP server: catches every message sent to it (aiosmtpd; no auth, no delivery).

Served by the sandbox's own event loop beside Hypercorn, on a socket bound before either starts,
and stopped with the sandbox. Plain SMTP only: it listens on loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref

from aiosmtpd.smtp import SMTP, Envelope, Session
from quart import Quart

from bookshop.sandbox.mail import Mailbox

log = logging.getLogger("bookshop.sandbox.smtp")
# The shop's messages are a few kilobytes; the cap bounds what 500 kept messages can weigh.
DATA_SIZE_LIMIT = 2 * 1024 * 1024
# Said in the greeting and EHLO reply; given so aiosmtpd does not look up the machine's FQDN.
HOSTNAME = "sandbox.localhost"
STOP_TIMEOUT_S = 2.0


class CatchAll:
    """The aiosmtpd handler: accept every message and keep it in the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message; a 250 reply tells the client it is delivered."""
        raw = envelope.original_content or b""
        message = self.mailbox.receive(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        log.info("caught %s for %s: %r", message.id, ", ".join(message.rcpt_tos), message.subject)
        return f"250 Message accepted as {message.id}"


class SmtpServer:
    """aiosmtpd's SMTP protocol served on an already bound socket in the running loop."""

    def __init__(self, listener: socket.socket, mailbox: Mailbox) -> None:
        self.listener = listener
        self.handler = CatchAll(mailbox)
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    async def start(self) -> None:
        """Accept connections on the listener."""
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            protocol = SMTP(
                self.handler,
                loop=loop,
                hostname=HOSTNAME,
                data_size_limit=DATA_SIZE_LIMIT,
                enable_SMTPUTF8=True,
            )
            self._sessions.add(protocol)
            return protocol

        self._server = await loop.create_server(session, sock=self.listener)

    async def stop(self) -> None:
        """Stop accepting, and close the sessions still open (a client idling mid-session)."""
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._sessions):
            if protocol.transport is not None:
                protocol.transport.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("SMTP sessions still open after %.0f s; stopping anyway", STOP_TIMEOUT_S)
        self._server = None


def serve_smtp(app: Quart, listener: socket.socket) -> SmtpServer:
    """Catch mail on `listener` for as long as `app` serves, into the app's mailbox."""
    sandbox = app.extensions["sandbox"]
    server = SmtpServer(listener, sandbox.mailbox)
    sandbox.smtp_port = listener.getsockname()[1]
    app.before_serving(server.start)
    app.after_serving(server.stop)
    return server
