"""Sign events like Stripe and deliver them to endpoints in the background, with retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bookshop.sandbox.settings import WebhookEndpoint

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("bookshop.sandbox.webhooks")
JSON = dict[str, Any]
MAX_ATTEMPTS_KEPT = 2000


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header: `t=<unix>,v1=<HMAC-SHA256 of "t." + payload>`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@dataclass
class Attempt:
    """One try at delivering one event to one endpoint, for the dashboard."""

    event_id: str
    event_type: str
    url: str
    number: int
    at: float
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the endpoint answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Endpoint:
    config: WebhookEndpoint
    queue: asyncio.Queue[JSON] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class Dispatcher:
    """Delivers each event to every endpoint: first tries in creation order, retries apart."""

    def __init__(self, retry_schedule: tuple[float, ...], timeout_s: float) -> None:
        self.retry_schedule = retry_schedule
        self.timeout_s = timeout_s
        self.attempts: deque[Attempt] = deque(maxlen=MAX_ATTEMPTS_KEPT)
        self.last_attempt: dict[str, Attempt] = {}
        self._endpoints: list[_Endpoint] = []
        self._pending: list[WebhookEndpoint] = []
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoints(self) -> list[WebhookEndpoint]:
        """Configured endpoints."""
        return [e.config for e in self._endpoints] + list(self._pending)

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Start delivering to another endpoint (before start(), it waits for it)."""
        if self._client is None:
            self._pending.append(endpoint)
            return
        state = _Endpoint(endpoint)
        state.worker = asyncio.create_task(self._run(state))
        self._endpoints.append(state)

    def remove_endpoint(self, url: str) -> bool:
        """Stop delivering to `url` (queued events and retries for it are dropped)."""
        found = False
        for state in [e for e in self._endpoints if e.config.url == url]:
            if state.worker is not None:
                state.worker.cancel()
            self._endpoints.remove(state)
            found = True
        for task in [t for t in self._tasks if t.get_name() == url]:
            task.cancel()
        before = len(self._pending)
        self._pending = [e for e in self._pending if e.url != url]
        return found or len(self._pending) != before

    async def start(self) -> None:
        """Open the HTTP client and start one worker per endpoint."""
        # Imported here: httpx takes a fifth of the sandbox's start-up time otherwise.
        import httpx

        self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        pending, self._pending = self._pending, []
        for endpoint in pending:
            self.add_endpoint(endpoint)

    async def stop(self) -> None:
        """Cancel workers and retries, and close the client."""
        tasks = [e.worker for e in self._endpoints if e.worker] + list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def attempts_for(self, event_id: str) -> list[Attempt]:
        """The delivery attempts still remembered for one event, oldest first."""
        return [attempt for attempt in self.attempts if attempt.event_id == event_id]

    def count(self) -> int:
        """How many endpoints an event is sent to (its `pending_webhooks`)."""
        return len(self._endpoints) + len(self._pending)

    def publish(self, event: JSON) -> None:
        """Queue an event for every endpoint; never blocks the caller."""
        event["pending_webhooks"] = len(self._endpoints)
        for endpoint in self._endpoints:
            endpoint.queue.put_nowait(event)

    async def _run(self, endpoint: _Endpoint) -> None:
        while True:
            event = await endpoint.queue.get()
            if not await self._attempt(endpoint.config, event, 1):
                # Later events must not wait behind a failing one: retry it on the side.
                task = asyncio.create_task(
                    self._retry(endpoint.config, event), name=endpoint.config.url
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _retry(self, endpoint: WebhookEndpoint, event: JSON) -> None:
        for number, delay in enumerate(self.retry_schedule, start=2):
            await asyncio.sleep(delay)
            if await self._attempt(endpoint, event, number):
                return
        log.warning("giving up delivering %s to %s", event["id"], endpoint.url)

    async def _attempt(self, endpoint: WebhookEndpoint, event: JSON, number: int) -> bool:
        import httpx

        assert self._client is not None
        payload = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, endpoint.secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(endpoint.url, content=payload, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempt = Attempt(
            event["id"], event["type"], endpoint.url, number, time.time(), status, error
        )
        self.attempts.append(attempt)
        self.last_attempt[event["id"]] = attempt
        if attempt.ok:
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        return attempt.ok
