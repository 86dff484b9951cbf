"""`python -m bookshop.sandbox`: serve the Stripe sandbox with Hypercorn (and, with --smtp-port,
catch mail over SMTP) until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import logging
import signal
import socket
import sys
from collections.abc import Sequence

from hypercorn.asyncio import serve
from hypercorn.config import Config, Sockets
from quart import Quart

from bookshop.sandbox.app import create_sandbox_app
from bookshop.sandbox.settings import FAIL_MODES, SandboxSettings, SettingsError, parse_webhook

log = logging.getLogger("bookshop.sandbox")
UVLOOP = importlib.util.find_spec("uvloop") is not None


def parse_args(argv: Sequence[str] | None = None) -> SandboxSettings:
    """Settings from SANDBOX_* variables, overridden by command-line flags."""
    try:
        settings = SandboxSettings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"bookshop.sandbox: {exc}") from None
    parser = argparse.ArgumentParser(prog="python -m bookshop.sandbox", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--secret-key", default=settings.secret_key)
    parser.add_argument("--publishable-key", default=settings.publishable_key)
    parser.add_argument("--latency-ms", type=int, default=settings.latency_ms)
    parser.add_argument("--fail-rate", type=float, default=settings.fail_rate)
    parser.add_argument("--fail-mode", choices=FAIL_MODES, default=settings.fail_mode)
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL=whsec_...",
        help="deliver every event to URL, signed with the secret (repeatable)",
    )
    parser.add_argument(
        "--webhook-retries",
        default=None,
        metavar="SECONDS,SECONDS,...",
        help="waits between delivery retries (default: doubling, about 5 minutes in all)",
    )
    parser.add_argument(
        "--confirmation-token-lifetime",
        type=int,
        default=settings.confirmation_token_lifetime_s,
        metavar="SECONDS",
        help="how long a ConfirmationToken can be used after its creation (default: 12 hours, "
        "as Stripe's)",
    )
    # A flag only, never SANDBOX_SMTP_PORT: the shop's settings read that variable to know where
    # to send, and every sandbox a test starts would otherwise try to take that one port.
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also catch mail: an SMTP server on the sandbox's host and this port (no auth, "
        "no delivery), shown in the dashboard and at /_sandbox/mail",
    )
    parser.add_argument("--allow-non-loopback", action="store_true")
    args = parser.parse_args(argv)
    settings.host, settings.port = args.host, args.port
    settings.secret_key, settings.publishable_key = args.secret_key, args.publishable_key
    settings.latency_ms, settings.fail_rate, settings.fail_mode = (
        args.latency_ms,
        args.fail_rate,
        args.fail_mode,
    )
    settings.confirmation_token_lifetime_s = args.confirmation_token_lifetime
    settings.allow_non_loopback = args.allow_non_loopback
    settings.smtp_port = args.smtp_port
    try:
        settings.webhooks = settings.webhooks + [parse_webhook(spec) for spec in args.webhook]
        if args.webhook_retries is not None:
            settings.webhook_retry_schedule = tuple(
                float(part) for part in args.webhook_retries.split(",") if part.strip()
            )
        settings.validate()
    except (SettingsError, ValueError) as exc:
        parser.error(str(exc))
    return settings


class ServerConfig(Config):
    """Hypercorn's configuration, serving on a socket the sandbox has bound itself.

    Bound before Hypercorn starts so that a taken port ends the process with one clear line.
    """

    def __init__(self, listener: socket.socket) -> None:
        super().__init__()
        self.listener = listener

    def create_sockets(self) -> Sockets:
        return Sockets(secure_sockets=[], insecure_sockets=[self.listener], quic_sockets=[])


# How often the served sandbox moves what it holds out of the garbage collector's sight.
FREEZE_EVERY_S = 2.0


def keep_stored_objects_out_of_gc(app: Quart, every_s: float = FREEZE_EVERY_S) -> None:
    """While the app serves, freeze (`gc.freeze()`) every object alive, every few seconds.

    The store keeps every object the API makes (intents, charges, events, saved idempotent
    responses) as dicts and lists, and each full collection walked them all again while every API
    call waited, longer the more the sandbox held (docs/performance.md). None of it is cyclic
    garbage, and reference counting still frees what the sandbox drops. Requests in flight are
    frozen too, so a reference cycle among them would never be collected; none showed in the
    process's memory under load. Only for the served process: tests build sandboxes inside
    pytest's own process.
    """
    task: asyncio.Task[None] | None = None

    async def freeze_periodically() -> None:
        while True:
            await asyncio.sleep(every_s)
            gc.freeze()

    @app.before_serving
    async def start_freezing() -> None:
        nonlocal task
        task = asyncio.get_running_loop().create_task(freeze_periodically())

    @app.after_serving
    async def stop_freezing() -> None:
        if task is not None:
            task.cancel()


def server_config(listener: socket.socket) -> ServerConfig:
    """How Hypercorn serves the sandbox: no access log, open connections get 2 s on stop."""
    config = ServerConfig(listener)
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # logging as configured in main()
    config.include_server_header = False
    config.graceful_timeout = 2.0
    return config


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve_until_signalled(app: Quart, config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully; lifespan starts and stops webhooks."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_once() -> None:
        stop.set()
        ignore_further_signals(loop)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop_once)
    await serve(app, config, shutdown_trigger=stop.wait)


def ignore_further_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Once stopping, a second signal (Ctrl-C pressed twice) changes nothing.

    Nothing needs forcing: open connections get at most `graceful_timeout` and stopping webhook
    delivery cancels its tasks. Ignored at the OS level, not just by the loop, which would put
    the default handlers back (a KeyboardInterrupt traceback) when it closes. Blocked meanwhile,
    so that no signal finds the default handler between the two.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def run(app: Quart, config: ServerConfig) -> None:
    """Serve on uvloop's event loop where it is installed (as the shop does), else asyncio's."""
    loop_factory = None
    if UVLOOP:
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve_until_signalled(app, config))


class ListenError(Exception):
    """A port the sandbox cannot listen on, and why."""

    def __init__(self, port: int, reason: OSError) -> None:
        super().__init__(port, reason)
        self.port, self.reason = port, reason


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host and port, bound before serving so that a taken port ends
    the process with one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ListenError(port, exc) from None


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)
    # aiosmtpd logs every connection and command at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    settings = parse_args(argv)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    with contextlib.ExitStack() as listeners:
        try:
            listener = listeners.enter_context(bind(settings.host, settings.port))
            smtp_listener = None
            if settings.smtp_port is not None:
                smtp_listener = listeners.enter_context(bind(settings.host, settings.smtp_port))
        except ListenError as exc:
            log.error("cannot listen on %s:%s: %s", host, exc.port, exc.reason)
            return 1
        log.info(
            "Stripe sandbox (test mode, no real money) listening on http://%s:%s",
            host,
            listener.getsockname()[1],
        )
        app = create_sandbox_app(settings)
        if smtp_listener is not None:
            # Imported only here: most sandboxes catch no mail, and aiosmtpd slows the start.
            from bookshop.sandbox.smtp import serve_smtp

            serve_smtp(app, smtp_listener)
            log.info("catching mail on smtp://%s:%s", host, smtp_listener.getsockname()[1])
        keep_stored_objects_out_of_gc(app)
        run(app, server_config(listener))
    return 0


if __name__ == "__main__":
    sys.exit(main())
