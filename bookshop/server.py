"""How Hypercorn serves the shop: one configuration for `python -m bookshop` and the benchmark."""

from __future__ import annotations

import gc
import importlib.util
import multiprocessing
import time
from collections.abc import Mapping
from typing import Any

from hypercorn.config import Config, Sockets
from hypercorn.logging import Logger
from hypercorn.typing import ResponseSummary, WWWScope

from bookshop.config import Settings
from bookshop.security import MAX_HEADER_BYTES

UVLOOP = importlib.util.find_spec("uvloop") is not None
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The shop's log lines in each worker as in the supervisor: Hypercorn's workers are new processes
# (spawned), so a `basicConfig` in `python -m bookshop` does not reach them, and without this
# their warnings and errors come out as bare messages and their INFO lines not at all.
WORKER_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"shop": {"format": LOG_FORMAT}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "shop",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    # Hypercorn's own error logger goes through the root's handler: each line once, one format.
    "loggers": {"hypercorn.error": {"level": "INFO"}},
}


class _BoundInEachWorker(Sockets):
    """What the supervisor hands its workers instead of sockets: pickled, it becomes None, and a
    Hypercorn worker given None binds its own."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(None), ())


class ServerConfig(Config):
    """Hypercorn's configuration, with a listening socket of its own in each worker.

    Hypercorn binds one socket in the supervisor and shares it: whichever worker wakes first
    accepts every waiting connection, so keep-alive clients (a proxy, a load balancer) can pile
    onto one worker while the others idle. Bound in each worker with SO_REUSEPORT (which Hypercorn
    sets when there are several workers), the kernel spreads connections over all of them.
    """

    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        if self.workers > 1 and multiprocessing.parent_process() is None:
            # Bound in the supervisor only so that a taken address fails here, at start, with
            # its own error: a worker's bind error would end the server with status 0.
            for sock in (*sockets.insecure_sockets, *sockets.secure_sockets, *sockets.quic_sockets):
                sock.close()
            return _BoundInEachWorker([], [], [])
        return sockets


class AccessLog(Logger):
    """Hypercorn's logger, with each access line built from only the fields it prints.

    Hypercorn's own atoms copy every request header, response header and environment variable
    into a dict for every request, to print six fields (docs/performance.md, "A lean access log").
    """

    # Path without query string or Referer: result URLs carry a client secret, never logged.
    FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(L)ss'

    def atoms(
        self, request: WWWScope, response: ResponseSummary | None, request_time: float
    ) -> Mapping[str, str]:
        client = request.get("client")
        method = request["method"] if request["type"] == "http" else "GET"
        headers = response["headers"] if response is not None else ()
        lengths = [value for name, value in headers if name.lower() == b"content-length"]
        return {
            "h": f"{client[0]}:{client[1]}" if client else "-",
            "t": time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
            "r": f"{method} {request['path']} {request.get('http_version', 'ws')}",
            "s": str(response["status"]) if response is not None else "-",
            "b": lengths[0].decode("latin1") if lengths else "-",
            "L": f"{request_time:.6f}",
        }


def hypercorn_config(
    settings: Settings, application: str = "bookshop:create_app()"
) -> ServerConfig:
    """How the shop is served; the benchmark serves its bare baseline app the same way."""
    config = ServerConfig()
    config.application_path = application
    config.bind = [f"{settings.host}:{settings.port}"]
    config.workers = settings.workers
    config.accesslog = "-"
    config.logger_class = AccessLog
    config.access_log_format = AccessLog.FORMAT
    config.logconfig_dict = WORKER_LOGGING
    # Bound what a client can make a worker buffer before the app sees the request.
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.h2_max_header_list_size = MAX_HEADER_BYTES
    # uvloop's event loop and transports (C, on libuv) cost less CPU than asyncio's
    # (docs/performance.md, "uvloop"); where it is not installed (Windows), asyncio's.
    config.worker_class = "uvloop" if UVLOOP else "asyncio"
    return config


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, templates, the app) out of garbage collection.

    A worker starts with several hundred thousand objects, stripe-python's types the most, and
    every full collection walked them all again while the event loop stood still (no request, not
    even /healthz, was answered): docs/performance.md, "Start-up objects out of the collector".
    """
    gc.collect()
    gc.freeze()
