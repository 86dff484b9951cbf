"""`python -m bookshop.sandbox`: serve the Stripe sandbox with Uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import uvicorn
from quart import Quart

from bookshop.sandbox.app import create_sandbox_app
from bookshop.sandbox.settings import FAIL_MODES, SandboxSettings, SettingsError, parse_webhook

log = logging.getLogger("bookshop.sandbox")


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
    parser.add_argument("--allow-non-loopback", action="store_true")
    args = parser.parse_args(argv)
    settings.host, settings.port = args.host, args.port
    settings.secret_key, settings.publishable_key = args.secret_key, args.publishable_key
    settings.latency_ms, settings.fail_rate, settings.fail_mode = (
        args.latency_ms,
        args.fail_rate,
        args.fail_mode,
    )
    settings.allow_non_loopback = args.allow_non_loopback
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


class Server(uvicorn.Server):
    """Uvicorn's server, stopping gracefully on SIGTERM or SIGINT and then simply returning.

    (Uvicorn's own handlers raise the signal again once it has stopped, to end the process with
    it; a test or `make run` stopping the sandbox should see it exit 0.)
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start the graceful stop; a second signal (Ctrl-C pressed twice) changes nothing.

        Uvicorn would take it as "force quit" and cancel webhook delivery's shutdown midway,
        logging a traceback. Nothing here needs forcing: open connections get at most
        `timeout_graceful_shutdown` seconds, and stopping webhook delivery cancels its tasks.
        """
        self.should_exit = True

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


# How often the served sandbox moves what it holds out of the garbage collector's sight.
FREEZE_EVERY_S = 2.0


def keep_stored_objects_out_of_gc(app: Quart, every_s: float = FREEZE_EVERY_S) -> None:
    """While the app serves, freeze (`gc.freeze()`) every object alive, every few seconds.

    The store keeps every object the API makes (intents, charges, events, saved idempotent
    responses) as dicts and lists, and each full collection walked them all again, with every API
    call waiting: under a benchmark's load the pauses grew to ~360 ms within a minute. None of it
    is cyclic garbage, and reference counting still frees what the sandbox drops. Requests in
    flight are frozen too, so a reference cycle among them would never be collected; none showed
    (the process's memory after a minute of 250 calls a second was the same as without this).
    Only for the served process: tests build sandboxes inside pytest's own process.
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


def server(settings: SandboxSettings) -> Server:
    """The sandbox app under Uvicorn.

    Uvicorn rather than Hypercorn (which serves the shop): on its C HTTP parser (httptools) and
    event loop (uvloop), where installed, an API call costs the sandbox ~35% less CPU. In the
    benchmark the sandbox stands in for Stripe's servers but shares the shop's cores.
    """
    app = create_sandbox_app(settings)
    keep_stored_objects_out_of_gc(app)
    config = uvicorn.Config(
        app,
        lifespan="on",  # starts and stops webhook delivery
        ws="none",
        access_log=False,
        log_config=None,  # logging as configured in main()
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    return Server(config)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    settings = parse_args(argv)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        listener = socket.create_server((settings.host, settings.port), family=family)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, settings.port, exc)
        return 1
    log.info(
        "Stripe sandbox (test mode, no real money) listening on http://%s:%s", host, settings.port
    )
    with listener:
        server(settings).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
