"""Several shop processes behind a proxy (issue 30), with the real parts a deployment runs: Caddy
with its internal CA in front of two `python -m bookshop` processes (round robin), both on one
PostgreSQL database and one Redis, paying at the test session's Stripe sandbox. Every request
below goes through Caddy over verified HTTPS unless it says otherwise.

The sandbox delivers its webhooks to Caddy's plain-http site (same upstreams, round robin): its
client trusts public CAs only, not Caddy's internal one.

The tests share the module's processes and run in file order: the last one stops Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from bookshop.config import normalise_database_url
from bookshop.mail.schema import outbox
from bookshop.orders import Ledger
from bookshop.orders.schema import webhook_events
from tests.fixtures.app import SINGAPORE, TEST_CATALOG
from tests.fixtures.mail import MailServer, catching_mail
from tests.fixtures.paying import EMAIL, confirmation_token, shown_on
from tests.fixtures.sandbox import SandboxServer, free_port
from tests.fixtures.services import (
    CaddyServer,
    RedisServer,
    ShopProcess,
    missing_binaries,
    running_shop,
)
from tests.mail.orders import pay

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(bool(missing_binaries()), reason=missing_binaries() or "installed"),
]

# The pay step for all clients together: small, so the test can go past it in a second or two.
PAY_ALL = 30
# Each client's own limit, well above what the test sends: only the shared one may answer 429.
PAY_PER_CLIENT = 1000
# Past PAY_ALL: moving-window counters in one Redis are exact, so no more than this slips through
# (several counters, one per process, would let twice PAY_ALL through).
PAY_ALL_SLACK = 2
CONCURRENCY = 8
BOOK = "code"
WAIT_S = 15.0
EVIL = "evil.example"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
HSTS = "strict-transport-security"
# Hypercorn's access log line for one request (bookshop/server.py): '"GET /path 1.1" 200 ...'.
ACCESS_LINE = re.compile(r'"[A-Z]+ \S+ [^"\s]+" \d{3} ')


@dataclass
class Deployment:
    """What the module's tests talk to, and where they look afterwards."""

    caddy: CaddyServer
    shops: tuple[ShopProcess, ShopProcess]
    redis: RedisServer
    database_url: str
    sandbox: SandboxServer
    mail: MailServer

    def client(self) -> httpx.AsyncClient:
        """A browser-like client of the shop's public URL, trusting Caddy's CA."""
        return httpx.AsyncClient(
            base_url=self.caddy.url, verify=self.caddy.ssl_context(), timeout=10
        )

    def log_sizes(self) -> list[int]:
        """Where each shop's log ends now, then Caddy's (to read what a test's requests added)."""
        return [shop.service.log_size() for shop in self.shops] + [self.caddy.service.log_size()]

    def proxy_errors(self, sizes: list[int]) -> list[str]:
        """What Caddy logged as errors since `sizes` (why it answered a 502, say)."""
        lines = self.caddy.service.log(sizes[-1]).splitlines()
        return [line for line in lines if '"level":"error"' in line]

    def logs_since(self, sizes: list[int]) -> list[str]:
        """Each shop's log from `sizes` on."""
        return [shop.service.log(size) for shop, size in zip(self.shops, sizes[:-1], strict=True)]

    async def logs_once(self, sizes: list[int], ready: Callable[[list[str]], bool]) -> list[str]:
        """Each shop's log from `sizes` on, once `ready(logs)` (or WAIT_S later, for the test's
        assertions to say what is missing): Hypercorn writes a request's access line after
        sending its response."""
        deadline = time.monotonic() + WAIT_S
        while not ready(logs := self.logs_since(sizes)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return logs


@pytest.fixture(scope="module")
def shops_mail() -> Iterator[MailServer]:
    """The mail server both shops send through (SMTP_URL)."""
    with catching_mail() as server:
        yield server


@pytest.fixture(scope="module")
def deployment(
    shops_mail: MailServer,
    tmp_path_factory: pytest.TempPathFactory,
    caddy: CaddyServer,
    caddy_upstreams: list[int],
    redis_server: RedisServer,
    module_postgres_url: str,
    sandbox_server: SandboxServer,
) -> Iterator[Deployment]:
    """Two shop processes in production mode behind the module's Caddy, with the sandbox's
    webhooks delivered through Caddy; all stopped (and the webhook endpoint removed) after."""
    webhook_secret = f"whsec_{secrets.token_hex(16)}"
    settings = {
        "SHOP_ENV": "production",
        "SHOP_SECRET_KEY": secrets.token_urlsafe(32),
        "SHOP_PUBLIC_URL": caddy.url,
        "SHOP_TRUSTED_PROXIES": "127.0.0.1",
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": module_postgres_url,
        "SHOP_CATALOG_SEED": str(TEST_CATALOG),
        "SHOP_WORKERS": "1",
        "SHOP_RATE_LIMITS": "on",
        "SHOP_RATE_LIMIT_PAY": f"{PAY_PER_CLIENT}/minute",
        "SHOP_RATE_LIMIT_PAY_ALL": f"{PAY_ALL}/minute",
        "STRIPE_SECRET_KEY": sandbox_server.secret_key,
        "STRIPE_PUBLISHABLE_KEY": sandbox_server.publishable_key,
        "STRIPE_API_BASE": sandbox_server.url,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        # Any port but the sandbox's: on its own port the shop would start a sandbox of its own.
        "SANDBOX_PORT": str(free_port()),
        "SMTP_URL": shops_mail.url,
        "MAIL_FROM": "orders@bookshop.test",
    }
    directory = tmp_path_factory.mktemp("shops")
    webhook_url = f"{caddy.plain_url}/webhooks/stripe"
    with contextlib.ExitStack() as stack:
        # One after the other: the first migrates and seeds the empty database; two seeding it
        # at once would both insert the catalog.
        first = stack.enter_context(running_shop(directory, "shop-a", caddy_upstreams[0], settings))
        second = stack.enter_context(
            running_shop(directory, "shop-b", caddy_upstreams[1], settings)
        )
        sandbox_server.add_webhook_endpoint(webhook_url, webhook_secret)
        stack.callback(sandbox_server.remove_webhook_endpoint, webhook_url)
        yield Deployment(
            caddy, (first, second), redis_server, module_postgres_url, sandbox_server, shops_mail
        )


@contextlib.asynccontextmanager
async def ledger_of(deployment: Deployment) -> AsyncIterator[Ledger]:
    """The shops' ledger, read (and the stock set) from the test, as `make orders` would."""
    ledger = Ledger(normalise_database_url(deployment.database_url))
    await ledger.open()
    try:
        yield ledger
    finally:
        await ledger.close()


async def csrf_token(client: httpx.AsyncClient) -> str:
    """The session's CSRF token, from the cart page (which opens no checkout)."""
    response = await client.get("/cart")
    assert response.status_code == 200, response.text[:500]
    match = CSRF_META.search(response.text)
    assert match, "the cart page carries the session's CSRF token"
    return match.group(1)


def served(log: str, method: str, path: str) -> int:
    """How many access-log lines of one shop show `method path` answered."""
    return len(re.findall(rf'"{method} {re.escape(path)} [^"\s]+" \d{{3}} ', log))


def served_any(log: str) -> int:
    """How many requests a shop's log shows answered."""
    return len(ACCESS_LINE.findall(log))


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT_S
) -> None:
    """Wait (at most `within` seconds) until `check()` is true."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"not within {within:.0f} s: {what}")


async def test_pages_come_over_https_with_hsts_from_both_processes(
    deployment: Deployment,
) -> None:
    sizes = deployment.log_sizes()
    async with deployment.client() as client:
        answers = [
            await client.get(path) for path in ("/", "/", f"/books/{BOOK}", f"/books/{BOOK}")
        ]

    for response in answers:
        assert response.status_code == 200, deployment.proxy_errors(sizes)
        assert response.url.scheme == "https"
        # The shop knows it is behind HTTPS only by believing its trusted proxy's
        # X-Forwarded-Proto: the connection it accepts is plain http.
        assert response.headers.get(HSTS, "").startswith("max-age="), (
            f"{response.url.path}: no Strict-Transport-Security behind Caddy"
        )
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', answers[2].text)
    assert canonical and canonical.group(1).startswith(f"{deployment.caddy.url}/")
    # Round robin: each process served half of the pages.
    logs = await deployment.logs_once(sizes, lambda logs: sum(map(served_any, logs)) >= 4)
    assert [served(log, "GET", "/") for log in logs] == [1, 1], logs
    assert [served(log, "GET", f"/books/{BOOK}") for log in logs] == [1, 1], logs


async def test_the_shops_own_port_sends_no_hsts_over_plain_http(deployment: Deployment) -> None:
    # Without the proxy's word for it, plain http is plain http.
    async with httpx.AsyncClient(timeout=10) as client:
        for shop in deployment.shops:
            response = await client.get(f"{shop.url}/")
            assert response.status_code == 200
            assert HSTS not in response.headers


async def test_a_paid_order_its_webhook_and_its_stock_agree_whichever_process_took_each_step(
    deployment: Deployment,
) -> None:
    copies, on_hand = 2, 7
    async with ledger_of(deployment) as ledger:
        await ledger.stock.set(BOOK, on_hand, "test: scale-out")
    sizes = deployment.log_sizes()

    async with deployment.client() as client:
        token = await csrf_token(client)
        added = await client.post(
            "/cart/add", data={"book_id": BOOK, "quantity": str(copies), "csrf_token": token}
        )
        assert added.status_code == 303, added.text[:500]
        address = await client.post(
            "/checkout/address", data={**SINGAPORE, "next": "/checkout", "csrf_token": token}
        )
        assert address.status_code == 303, address.text[:500]
        page = await client.get("/checkout")
        assert page.status_code == 200, page.text[:500]
        form = shown_on(
            page.text,
            email=EMAIL,
            confirmation_token=await asyncio.to_thread(confirmation_token, deployment.sandbox),
        )
        paid = await client.post(
            "/checkout/pay",
            data=form,
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )
    assert paid.status_code == 200, (paid.text[:1000], deployment.proxy_errors(sizes))
    assert "Payment received" in paid.text
    pushed = re.search(r"payment_intent=(pi_[A-Za-z0-9]+)", paid.headers.get("HX-Push-Url", ""))
    assert pushed, paid.headers
    intent_id = pushed.group(1)

    async with ledger_of(deployment) as ledger:

        async def webhook_recorded() -> bool:
            query = select(webhook_events.c.type).where(webhook_events.c.intent_id == intent_id)
            async with ledger.database.reading() as connection:
                recorded = set((await connection.execute(query)).scalars())
            return "payment_intent.succeeded" in recorded

        await eventually(webhook_recorded, f"the ledger records {intent_id}'s succeeded webhook")
        order = await ledger.get(intent_id)
        assert order is not None and order.status == "paid"
        assert [(line.book_id, line.quantity) for line in order.lines] == [(BOOK, copies)]
        (level,) = await ledger.stock.levels(BOOK)
    # Sold once, whoever recorded the payment first: the pay step's process or the webhook's.
    assert (level.on_hand, level.reserved, level.sold) == (on_hand - copies, 0, copies)

    # And confirmed once, by whichever process's sender claimed the message.
    def confirmations() -> int:
        subjects = [str(each.message["Subject"]) for each in deployment.mail.deliveries]
        return sum(order.number in subject for subject in subjects)

    async def confirmed() -> bool:
        return confirmations() > 0

    await eventually(confirmed, f"the shopper gets {order.number}'s confirmation", within=30)
    assert confirmations() == 1

    logs = await deployment.logs_once(
        sizes, lambda logs: any(served(log, "POST", "/checkout/pay") for log in logs)
    )
    took = {
        step: [index for index, log in enumerate(logs) if served(log, method, path)]
        for step, (method, path) in {
            "pay": ("POST", "/checkout/pay"),
            "webhook": ("POST", "/webhooks/stripe"),
        }.items()
    }
    # Which process answered the Pay, and which the webhooks (several events: either or both).
    assert took["pay"] and took["webhook"], (took, logs)
    # Caddy's round robin spread the checkout's steps over both processes.
    assert all(served_any(log) for log in logs), logs


async def test_the_pay_limit_for_all_clients_holds_across_both_processes(
    deployment: Deployment,
) -> None:
    # Counters of earlier tests' Pay presses start afresh.
    deployment.redis.flush()
    sizes = deployment.log_sizes()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with deployment.client() as client:
        token = await csrf_token(client)

        async def press_pay() -> int:
            # A form the pay step refuses (422) before calling Stripe: only the limits count.
            async with gate:
                response = await client.post(
                    "/checkout/pay",
                    data={"confirmation_token": "not-a-token"},
                    headers={"HX-Request": "true", "X-CSRF-Token": token},
                )
            return response.status_code

        statuses = await asyncio.gather(*(press_pay() for _ in range(2 * PAY_ALL)))

    # 400 or 422: past the limits, refused by the pay step itself; 429: refused by a limit.
    assert set(statuses) <= {400, 422, 429}, (statuses, deployment.proxy_errors(sizes))
    allowed = len(statuses) - statuses.count(429)
    assert PAY_ALL <= allowed <= PAY_ALL + PAY_ALL_SLACK, (
        f"{allowed} of {len(statuses)} Pay presses passed a limit of {PAY_ALL}/minute for all "
        "clients: counted per process, not shared?"
    )
    logs = await deployment.logs_once(
        sizes, lambda logs: sum(served(log, "POST", "/checkout/pay") for log in logs) == 2 * PAY_ALL
    )
    assert all(served(log, "POST", "/checkout/pay") for log in logs), "both processes were asked"


async def test_a_forged_host_never_makes_a_url_through_caddy_or_on_a_shops_own_port(
    deployment: Deployment,
) -> None:
    redirecting = [f"/books//{BOOK}", f"//books/{BOOK}", f"/books/{BOOK}/", f"//{EVIL}/", "//"]
    pages = ["/", f"/books/{BOOK}", "/sitemap.xml", "/robots.txt"]
    origins = [
        (deployment.caddy.url, deployment.caddy.ssl_context()),
        *((shop.url, None) for shop in deployment.shops),
    ]
    for origin, verify in origins:
        async with httpx.AsyncClient(
            base_url=origin, verify=verify or True, timeout=10, headers={"Host": EVIL}
        ) as client:
            for path in [*redirecting, *pages]:
                response = await client.get(path)
                location = response.headers.get("Location", "")
                where = f"{origin} {path} -> {response.status_code} {location}"
                assert EVIL not in location, where
                assert not location.startswith("//"), where
                assert response.status_code < 500, where
                if path in pages:
                    assert EVIL not in response.text, where


async def test_forwarded_headers_count_only_from_a_trusted_proxy(deployment: Deployment) -> None:
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    shop = deployment.shops[0]
    # 127.0.0.2 is this machine too, but not in SHOP_TRUSTED_PROXIES (127.0.0.1).
    untrusted = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=untrusted, timeout=10) as client:
        response = await client.get(f"{shop.url}/", headers=forged)
    assert response.status_code == 200
    assert HSTS not in response.headers
    # The same headers from the trusted address are believed: the middleware is there.
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{shop.url}/", headers=forged)
    assert response.headers.get(HSTS, "").startswith("max-age=")
    # Caddy replaces what a client says of itself: forwarded as http, it is still https.
    async with deployment.client() as client:
        response = await client.get("/", headers={"X-Forwarded-Proto": "http"})
    assert response.headers.get(HSTS, "").startswith("max-age=")


async def test_a_post_refused_before_its_body_is_read_leaves_no_dead_connection_to_the_proxy(
    deployment: Deployment,
) -> None:
    # Caddy keeps its connections to the shops open and sends later requests on them. The shop
    # refuses some POSTs before reading their body (a forged CSRF token, a full pay limit); if it
    # then closes the connection without `Connection: close`, the proxy's next POST on it finds
    # it dead, and a POST is not retried: a 502 for a shopper who did nothing wrong.
    body = b"confirmation_token=not-a-token"
    status = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", deployment.shops[0].port)
    try:
        writer.write(
            b"POST /checkout/pay HTTP/1.1\r\nHost: 127.0.0.1\r\nX-CSRF-Token: forged\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1)
        except TimeoutError:
            # The shop waits for the body before it answers: as good.
            writer.write(body)
            body = b""
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status, headers = parse_head(head)
        assert status == 403, head
        await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
        if headers.get("connection", "").lower() == "close":
            return  # said so: the proxy opens another connection for its next request
        writer.write(body + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(64), 10)
    except ConnectionError:
        answer = b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 200"), (
        f"after a {status} sent before the request's body was read, the shop closed the "
        f"connection without saying `Connection: close` (next answer: {answer!r})"
    )


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """An HTTP/1.1 response's status and headers (names lower-cased)."""
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def test_two_processes_send_each_of_200_confirmations_once(deployment: Deployment) -> None:
    intents = [f"pi_scale_mail{n:03}" for n in range(200)]
    before = len(deployment.mail.deliveries)
    async with ledger_of(deployment) as ledger:
        # Copies for every order: none is left to refund (the shops' keepers would).
        await ledger.stock.set(BOOK, 1000, "test: scale-out mail")
        for intent_id in intents:
            await pay(ledger, intent_id)
        mine = outbox.c.intent_id.in_(intents)

        async def all_sent() -> bool:
            query = select(func.count()).where(mine, outbox.c.sent_at.is_not(None))
            async with ledger.database.reading() as connection:
                return await connection.scalar(query) == len(intents)

        # Each process's sender claims its share every few seconds, 50 at a time.
        await eventually(all_sent, "both shops' senders send the 200 confirmations", within=90)
        async with ledger.database.reading() as connection:
            senders = set(
                (await connection.execute(select(outbox.c.claimed_by).where(mine))).scalars()
            )
    delivered = deployment.mail.deliveries[before:]
    ids = [str(delivery.message["Message-ID"]) for delivery in delivered]
    assert len(ids) == len(intents) and len(set(ids)) == len(intents)
    # Both processes sent some: each sender names itself (host, pid) on what it claimed.
    assert len(senders) == 2, senders


async def test_without_redis_the_shop_keeps_serving_and_says_so(deployment: Deployment) -> None:
    # Last in the module: Redis stays stopped.
    deployment.redis.stop()
    sizes = deployment.log_sizes()
    async with deployment.client() as client:
        for path in ("/", "/", f"/books/{BOOK}", f"/books/{BOOK}"):
            response = await client.get(path)
            assert response.status_code == 200, f"{path} without Redis: {response.status_code}"
        token = await csrf_token(client)
        for _ in range(2):  # one for each process
            response = await client.post(
                "/checkout/pay",
                data={"confirmation_token": "not-a-token"},
                headers={"HX-Request": "true", "X-CSRF-Token": token},
            )
            assert response.status_code < 500, (response.text, deployment.proxy_errors(sizes))

    def said() -> list[str]:
        return [
            line
            for log in deployment.logs_since(sizes)
            for line in log.splitlines()
            if "redis" in line.lower()
        ]

    async def logged() -> bool:
        return bool(said())

    await eventually(logged, "a shop logs that Redis is gone")
    # An operator finds it by its level, as every other error.
    assert any(re.search(r"\bERROR\b", line) for line in said()), (
        f"the shop says Redis is gone, but not as an ERROR: {said()}"
    )
