"""`quart --app bookshop orders` and `reconcile`, on SQLite and PostgreSQL; and the whole shop as
`make run` starts it, paid in a browser.

These are plain `def` tests: the commands run their own event loop, as they do from a shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from playwright.sync_api import Page
from sqlalchemy import update

from bookshop import create_app
from bookshop.address import Address
from bookshop.catalog import Catalog
from bookshop.catalog.schema import books
from bookshop.cli import recent_orders
from bookshop.config import Settings
from bookshop.money import format_money
from bookshop.orders import ADDRESS_CHANGED, CHARGE_CHANGED, Ledger, Order
from bookshop.payments import Intent, IntentLine, read_intent
from tests.e2e.shopper import fill_address
from tests.fixtures.app import BOOKS, SINGAPORE, confirm_like_stripe_js, delivered
from tests.fixtures.database import run_async
from tests.fixtures.sandbox import SandboxServer, free_port

ROOT = Path(__file__).parents[1]
VISA, DECLINED = "4242424242424242", "4000000000009995"
# A name that sets a terminal's colour, and how the commands print it instead.
EVIL, EVIL_SHOWN = "\x1b[31mEvil\x1b[0m", "\\x1b[31mEvil\\x1b[0m"


@pytest.fixture
def settings(settings: Settings, database_url: str) -> Settings:
    """The shop's test settings on this test's database (SQLite, then PostgreSQL)."""
    return replace(settings, database_url=database_url)


def run(settings: Settings, *args: str) -> Result:
    """Run a `quart --app bookshop` command against these settings."""
    return create_app(settings).test_cli_runner().invoke(args=list(args))


def price(book_id: str) -> int:
    """The catalog's price of a book."""
    book = BOOKS.get(book_id)
    assert book is not None
    return book.price


def today() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d}"


def checkout(
    sandbox: SandboxServer,
    book: str,
    card: str | None = None,
    shipping: int | None = None,
    address: dict[str, str] = SINGAPORE,
) -> Intent:
    """An intent made the way the checkout makes it, confirmed with `card` when given; with
    `shipping`, delivered to `address` (the tests' Singapore address) for that much."""
    params: dict[str, Any] = {
        "amount": price(book) + (shipping or 0),
        "currency": "sgd",
        "metadata": {"lines_1": f"{book}:1:{price(book)}", "checkout": f"cli-{time.time_ns()}"},
    }
    if shipping is not None:
        params["metadata"]["shipping"] = str(shipping)
        params["shipping"] = Address(**address).to_stripe()
    intent = sandbox.client().v1.payment_intents.create(params=params)  # type: ignore[arg-type]
    assert intent.client_secret
    if card:
        confirm_like_stripe_js(sandbox, intent.client_secret, card, "shopper@example.com")
    return read_intent(intent.to_dict())


async def _record(settings: Settings, *intents: Intent) -> None:
    ledger = Ledger(settings.database_url)
    await ledger.open()
    # As the shop would have at its first start: order lines take their titles from the catalog.
    await Catalog(ledger.database).seed(settings.catalog_seed)
    for intent in intents:
        await ledger.record_payment(intent)  # the pay step's write of Stripe's answer
    await ledger.close()


async def _retitle(settings: Settings, book_id: str, title: str) -> None:
    ledger = Ledger(settings.database_url)
    await ledger.open()
    async with ledger.database.transaction() as connection:
        await connection.execute(update(books).where(books.c.id == book_id).values(title=title))
    await ledger.close()


async def _mark_paid(settings: Settings, intent: Intent) -> None:
    ledger = Ledger(settings.database_url)
    await ledger.open()
    await ledger.mark_paid(intent)
    await ledger.close()


async def _orders(settings: Settings, *intent_ids: str) -> list[Order | None]:
    ledger = Ledger(settings.database_url)
    await ledger.open()
    try:
        return [await ledger.get(intent_id) for intent_id in intent_ids]
    finally:
        await ledger.close()


def test_reconcile_repairs_a_crash_between_payment_and_ledger_write(
    settings: Settings, sandbox: SandboxServer
) -> None:
    # Recorded as open, then the shop died before any webhook or result page saw the payment.
    crashed = checkout(sandbox, "code")
    run_async(_record(settings, crashed))
    confirm_like_stripe_js(sandbox, crashed.client_secret, VISA, "shopper@example.com")
    # Paid before the checkout's own write ever happened.
    unrecorded = checkout(sandbox, "working-in-public", VISA)
    declined = checkout(sandbox, "code", DECLINED)

    first = run(settings, "reconcile", "--since", today())
    second = run(settings, "reconcile", "--since", today())

    assert first.exit_code == 0, first.output
    assert f"{crashed.id}: open -> paid" in first.output
    assert f"{unrecorded.id}: missing -> paid" in first.output
    assert f"{declined.id}: missing -> failed" in first.output
    assert second.exit_code == 0, second.output
    assert second.output.strip().endswith("nothing to change.")
    assert "->" not in second.output
    paid, created, failed = run_async(_orders(settings, crashed.id, unrecorded.id, declined.id))
    assert paid is not None and (paid.status, paid.email) == ("paid", "shopper@example.com")
    assert paid.charge_id and paid.charge_id.startswith("ch_")
    assert created is not None and (created.status, created.lines[0].book_id) == (
        "paid",
        "working-in-public",
    )
    assert failed is not None and (failed.status, failed.decline_code) == (
        "failed",
        "insufficient_funds",
    )


def test_reconcile_flags_a_paid_order_stripe_charged_otherwise_and_prints_it_once(
    settings: Settings, sandbox: SandboxServer
) -> None:
    # Stripe charged for 2 copies; the ledger says 5 (a pay step that never told it).
    stripe_client = sandbox.client()
    created = checkout(sandbox, "code")
    stripe_client.v1.payment_intents.update(
        created.id,
        params={"amount": 2 * price("code"), "metadata": {"lines_1": f"code:2:{price('code')}"}},
    )
    confirm_like_stripe_js(sandbox, created.client_secret, VISA)
    charged = read_intent(
        stripe_client.v1.payment_intents.retrieve(
            created.id, params={"expand": ["latest_charge"]}
        ).to_dict()
    )
    wrong = replace(
        charged, lines=(IntentLine("code", 5, price("code")),), amount=5 * price("code")
    )
    run_async(_record(settings, replace(wrong, status="requires_payment_method")))
    run_async(_mark_paid(settings, wrong))

    first = run(settings, "reconcile", "--since", today())
    second = run(settings, "reconcile", "--since", today())

    two = format_money(2 * price("code"), "sgd", settings.locale)
    assert first.exit_code == 0, first.output
    change = (
        f"{created.id}: paid -> paid (REVIEW: {CHARGE_CHANGED}; Stripe has: 2 x code for {two})"
    )
    assert change in first.output
    assert second.output.strip().endswith("nothing to change."), second.output
    # Nothing but the flag changed: a person decides what was sold.
    (order,) = run_async(_orders(settings, created.id))
    assert order is not None and (order.status, order.review) == ("paid", CHARGE_CHANGED)
    assert [(line.book_id, line.quantity) for line in order.lines] == [("code", 5)]
    assert order.amount == 5 * price("code")
    listing = run(settings, "orders").output.splitlines()
    index = next(n for n, row in enumerate(listing) if created.id in row)
    assert listing[index + 1].strip() == f"REVIEW: {CHARGE_CHANGED}"


def test_reconcile_without_stripe_changes_nothing_and_says_so(
    settings: Settings, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(fail_rate=1.0)

    result = run(settings, "reconcile")

    assert result.exit_code == 1
    assert "Stripe could not be reached" in result.output


def test_orders_lists_paid_orders_first_as_a_table(
    settings: Settings, sandbox: SandboxServer
) -> None:
    waiting = checkout(sandbox, "code")
    paid = checkout(sandbox, "working-in-public", VISA)
    run_async(_record(settings, waiting, paid))
    assert run(settings, "reconcile", "--since", today()).exit_code == 0

    # The session's sandbox holds every test's payments, which reconcile brings in: show them all.
    result = run(settings, "orders", "--limit", "1000")

    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    columns = "STATUS BOOKS AMOUNT DELIVERY EMAIL TIME (UTC) ORDER PAYMENT"
    assert header.split() == columns.split()
    # The session's sandbox holds other tests' checkouts too: find ours, check the order. An
    # order of several books goes on over indented rows, one a book.
    statuses = [row.split()[0] for row in rows if not row.startswith(" ")]
    assert statuses == sorted(statuses, key=lambda status: status != "paid")
    paid_row = next(row for row in rows if paid.id in row)
    assert paid_row.startswith("paid ")
    (order,) = run_async(_orders(settings, paid.id))
    assert order is not None and paid_row.split()[-2:] == [order.number, paid.id]
    assert "1 x Working in Public" in paid_row
    assert "shopper@example.com" in paid_row
    assert format_money(price("working-in-public"), "sgd") in paid_row
    assert next(row for row in rows if waiting.id in row).startswith("open ")


def test_orders_shows_where_each_paid_order_goes_and_what_delivery_cost(
    settings: Settings, sandbox: SandboxServer
) -> None:
    paid = checkout(sandbox, "code", VISA, shipping=300)
    run_async(_record(settings, paid))
    assert run(settings, "reconcile", "--since", today()).exit_code == 0

    rows = run(settings, "orders").output.splitlines()

    index = next(n for n, row in enumerate(rows) if paid.id in row)
    assert rows[index].startswith("paid ")
    assert format_money(300, "sgd") in rows[index]  # the DELIVERY column
    assert format_money(price("code") + 300, "sgd") in rows[index]
    assert rows[index + 1].strip() == (
        "deliver to: Ada Reader, 1 Straits View, #12-01, Singapore 018937, SG"
    )


def test_reconcile_flags_an_order_stripe_ships_elsewhere_and_orders_shows_it(
    settings: Settings, sandbox: SandboxServer
) -> None:
    # The shop checked and recorded its address; the intent was confirmed with another, whose
    # name would turn the shopkeeper's terminal red.
    elsewhere = {**SINGAPORE, "name": EVIL, "line1": "9 Other\u202eRoad"}
    paid = checkout(sandbox, "code", VISA, shipping=300, address=elsewhere)
    home = Address(**SINGAPORE)
    run_async(_record(settings, replace(paid, status="requires_payment_method", address=home)))

    first = run(settings, "reconcile", "--since", today())
    second = run(settings, "reconcile", "--since", today())
    listing = run(settings, "orders").output

    assert first.exit_code == 0, first.output
    assert (
        f"{paid.id}: open -> paid (REVIEW: {ADDRESS_CHANGED}; Stripe has: "
        f"{EVIL_SHOWN}, 9 Other\\u202eRoad, #12-01, Singapore 018937, SG)"
    ) in first.output
    assert second.output.strip().endswith("nothing to change."), second.output
    (order,) = run_async(_orders(settings, paid.id))
    assert order is not None and (order.status, order.address) == ("paid", home)
    assert (order.review, order.shipping) == (ADDRESS_CHANGED, 300)
    rows = listing.splitlines()
    index = next(n for n, row in enumerate(rows) if paid.id in row)
    assert rows[index + 1].strip() == f"REVIEW: {ADDRESS_CHANGED}"
    assert rows[index + 2].strip().startswith("deliver to: Ada Reader, 1 Straits View")
    for output in (first.output, listing):
        assert "\x1b" not in output and "\u202e" not in output


def test_orders_shows_what_shoppers_typed_and_titles_visibly(
    settings: Settings, sandbox: SandboxServer
) -> None:
    typed = Address(**{**SINGAPORE, "name": EVIL, "line2": "Flat\u200b\u2066 2\u2069"})
    order = replace(checkout(sandbox, "code"), address=typed, email="\x1b]0;owned\x07@x.example")
    run_async(_record(settings, order))
    # A title that reached the catalog with a right-to-left override (before the import's checks).
    run_async(_retitle(settings, "code", "Code\u202e txt.exe"))
    run_async(_record(settings, replace(order, id=f"{order.id}x")))

    result = run(settings, "orders")

    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert not {"\u202e", "\u200b", "\u2066", "\u2069"} & set(result.output)
    rows = result.output.splitlines()
    index = next(n for n, row in enumerate(rows) if f"{order.id}x" in row)
    assert "1 x Code\\u202e txt.exe" in rows[index]
    assert "\\x1b]0;owned\\x07@x.example" in rows[index]
    assert rows[index + 1].strip() == (
        f"deliver to: {EVIL_SHOWN}, 1 Straits View, Flat\\u200b\\u2066 2\\u2069, "
        "Singapore 018937, SG"
    )


def test_orders_on_an_empty_ledger_says_so(settings: Settings) -> None:
    result = run(settings, "orders")
    assert result.exit_code == 0
    assert result.output.strip() == "No orders yet."


@pytest.fixture
def shop_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`python -m bookshop` as `make run` starts it (with its own sandbox), on free ports."""
    shop_port, sandbox_port = free_port(), free_port()
    env = {
        **os.environ,
        "SHOP_PORT": str(shop_port),
        "SANDBOX_PORT": str(sandbox_port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        "STRIPE_SECRET_KEY": "",
        "STRIPE_PUBLISHABLE_KEY": "",
        "STRIPE_API_BASE": "",
        "STRIPE_WEBHOOK_SECRET": "",
        "SHOP_ENV": "development",
    }
    log_path = tmp_path / "shop.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bookshop"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{shop_port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the shop did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            yield {"url": base, "env": env, "log": log_path}
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.mark.browser
def test_a_browser_purchase_is_paid_in_the_ledger_unflagged_and_orders_shows_it(
    page: Page, shop_process: dict[str, Any]
) -> None:
    page.goto(f"{shop_process['url']}/checkout/code")
    fill_address(page)
    page.get_by_label("Email for the receipt").fill("reader@example.com")
    frame = page.frame_locator('iframe[title="Secure payment input frame"]')
    frame.get_by_label("Card number").fill("4242 4242 4242 4242")
    frame.get_by_label("Expiration date").fill("12 / 34")
    frame.get_by_label("Security code").fill("123")
    frame.get_by_label("Postal code").fill("018937")  # billing starts in Singapore, as delivery

    page.get_by_role("button", name="Pay").click()

    # The pay step's answer and Stripe's webhook both tell the ledger, in either order.
    settings = replace(Settings(), database_url=shop_process["env"]["DATABASE_URL"])
    deadline = time.monotonic() + 30
    while not (orders := run_async(recent_orders(settings, 1))) or orders[0].status != "paid":
        assert time.monotonic() < deadline, f"orders are {orders}; see {shop_process['log']}"
        time.sleep(0.2)
    (order,) = orders
    assert (order.email, order.address, order.review) == (
        "reader@example.com",
        Address(**SINGAPORE),
        None,
    )
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("quart")), "--app", "bookshop", "orders"],
        cwd=ROOT,
        env=shop_process["env"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = listing.splitlines()
    index = next(n for n, line in enumerate(rows) if order.intent_id in line)
    assert rows[index].startswith("paid ")
    assert "reader@example.com" in rows[index]
    assert format_money(delivered(price("code"), 1), "sgd") in rows[index]
    assert rows[index + 1].strip().startswith("deliver to: Ada Reader, 1 Straits View")


def test_reconcile_repairs_a_missed_refund(settings: Settings, sandbox: SandboxServer) -> None:
    paid = checkout(sandbox, "code", VISA)
    run(settings, "reconcile", "--since", today())
    # Refunded in the dashboard while the shop's webhook endpoint was down: no event arrived.
    sandbox.client().v1.refunds.create(params={"payment_intent": paid.id})

    result = run(settings, "reconcile", "--since", today())

    assert result.exit_code == 0, result.output
    assert f"{paid.id}: paid -> refunded" in result.output
    (order,) = run_async(_orders(settings, paid.id))
    assert order is not None and order.status == "refunded"
    assert order.amount_refunded == price("code")


async def _count(settings: Settings, book_id: str, copies: int) -> None:
    ledger = Ledger(settings.database_url)
    await ledger.open()
    try:
        await ledger.stock.set(book_id, copies, "test")
    finally:
        await ledger.close()


def test_reconcile_refunds_a_payment_it_finds_made_for_copies_that_were_gone(
    settings: Settings, sandbox: SandboxServer
) -> None:
    # Paid at Stripe while the shop was down, for the last copy, which the shop sold meanwhile.
    run_async(_count(settings, "code", 0))
    paid = checkout(sandbox, "code", VISA)

    first = run(settings, "reconcile", "--since", today())
    second = run(settings, "reconcile", "--since", today())

    assert first.exit_code == 0, first.output
    assert f"{paid.id}: missing -> paid" in first.output
    assert f"{paid.id}: paid -> refunded" in first.output
    assert "nothing to change." in second.output
    (order,) = run_async(_orders(settings, paid.id))
    assert order is not None and (order.status, order.refund_reason) == ("refunded", "out of stock")
    assert len(sandbox.client().v1.refunds.list(params={"payment_intent": paid.id}).data) == 1
