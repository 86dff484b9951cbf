"""Refunds from an order's page: books (their copies back in stock if asked) or an amount, a
confirmation step with a one-time key, the refund made once at Stripe and recorded once however
often the confirmation is sent, and the ledger in agreement with Stripe's webhook and reconcile."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from quart import Quart, Response
from sqlalchemy import update

from bookshop import cli
from bookshop.admin import audit
from bookshop.admin.refunds import Refusal, typed_amount
from bookshop.orders import Ledger, Order
from bookshop.orders.schema import orders
from bookshop.payments import Intent, Payments, PaymentsUnavailable
from bookshop.stock import Stock, StockLevel
from tests.checkout.steps import pushed_intent
from tests.fixtures.app import HTMX, Client, csrf_token
from tests.fixtures.paying import THREE_D_SECURE, VISA, fill_cart, press_pay, session_intent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.staff import OWNER_EMAIL

BOOK, OTHER = "code", "soul-of-a-new-machine"
PRICE, OTHER_PRICE = 2900, 1900
# Two copies of BOOK delivered to Singapore: 3.00 SGD for the first copy, 1.00 SGD for the next.
DELIVERY = 400
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def ledger_of(shop: Quart) -> Ledger:
    ledger: Ledger = shop.extensions["ledger"]
    return ledger


def stock_of(shop: Quart) -> Stock:
    stock: Stock = shop.extensions["stock"]
    return stock


async def paid_order(
    shop: Quart, shopper: Client, sandbox: SandboxServer, *books: tuple[str, int]
) -> Order:
    """The shopper fills the cart with `books` and pays by Visa: the paid order."""
    await fill_cart(shopper, *books)
    answer = await press_pay(shopper, sandbox, "/checkout", VISA)
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    order = await order_of(shop, pushed_intent(answer))
    assert order.status == "paid"
    return order


async def order_of(shop: Quart, intent_id: str) -> Order:
    order = await ledger_of(shop).get(intent_id)
    assert order is not None
    return order


async def text(response: Response) -> str:
    """A page's text as staff read it: entities decoded, money's no-break spaces as spaces."""
    return html.unescape(await response.get_data(as_text=True)).replace("\xa0", " ")


def url(order: Order, action: str = "refund") -> str:
    return f"/admin/orders/{order.intent_id}/{action}"


async def send(
    client: Client,
    target: str,
    fields: list[tuple[str, str]],
    headers: dict[str, str] | None = None,
) -> Response:
    """POST form fields (a name may repeat) with the session's CSRF token, as a browser does."""
    token = await csrf_token(client)
    sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if sent.get("HX-Request") == "true":
        sent["X-CSRF-Token"] = token
    pairs = [(name, value) for name, value in fields if name != "csrf_token"]
    body = urlencode([*pairs, ("csrf_token", token)])
    return await client.post(target, data=body.encode(), headers=sent)


def lines(*chosen: tuple[str, int], reason: str = "damaged in the post") -> list[tuple[str, str]]:
    """The refund form with these books ticked, so many copies of each."""
    fields = [("reason", reason)]
    for book_id, copies in chosen:
        fields += [("line", book_id), (f"copies-{book_id}", str(copies))]
    return fields


def confirmation(body: str) -> list[tuple[str, str]]:
    """The hidden fields of the confirmation form a page carries."""
    form = body.split('refund/confirm"', 1)[1].split("</form>", 1)[0]
    return [(name, html.unescape(value)) for name, value in HIDDEN.findall(form)]


async def confirm_page(
    owner: Client, order: Order, fields: list[tuple[str, str]]
) -> tuple[str, list[tuple[str, str]]]:
    """Ask for a refund: the confirmation page and the fields its Refund button sends."""
    asked = await send(owner, url(order), fields)
    body = await asked.get_data(as_text=True)
    assert asked.status_code == 200, body
    return await text(asked), confirmation(body)


async def refund(owner: Client, order: Order, fields: list[tuple[str, str]]) -> Response:
    """Ask for a refund and confirm it."""
    _, confirm = await confirm_page(owner, order, fields)
    return await send(owner, url(order, "refund/confirm"), confirm)


def charge_at_stripe(sandbox: SandboxServer, intent_id: str) -> Any:
    """The payment's charge as the sandbox has it."""
    (charge,) = sandbox.client().v1.charges.list(params={"payment_intent": intent_id}).data
    return charge


def refunds_at_stripe(sandbox: SandboxServer, intent_id: str) -> list[Any]:
    return list(sandbox.client().v1.refunds.list(params={"payment_intent": intent_id}).data)


async def refund_entries(shop: Quart, order: Order) -> list[audit.Entry]:
    found, _ = await audit.entries(ledger_of(shop).database, subject=f"order {order.intent_id}")
    return [entry for entry in found if entry.action == "refunded"]


async def returned_moves(shop: Quart, book_id: str = BOOK) -> list[tuple[int, str]]:
    moves = await stock_of(shop).moves(book_id)
    return [(move.quantity, move.reference) for move in moves if move.kind == "returned"]


async def moves_of(shop: Quart, order: Order) -> list[tuple[str, int]]:
    """The book's stock moves this order made."""
    moves = await stock_of(shop).moves(BOOK)
    return [(move.kind, move.quantity) for move in moves if move.reference == order.intent_id]


def signed(payload: bytes, secret: str) -> dict[str, str]:
    """Headers as Stripe signs a delivery."""
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}", "Content-Type": "application/json"}


async def deliver_refund_events(shop: Quart, sandbox: SandboxServer, charge_id: str) -> int:
    """Deliver every charge.refunded event the sandbox made for the charge, as Stripe would."""
    secret = shop.extensions["settings"].stripe_webhook_secret
    events = [
        event
        for event in sandbox.events("charge.refunded")
        if event["data"]["object"]["id"] == charge_id
    ]
    for event in reversed(events):  # oldest first
        body = json.dumps(event).encode()
        answer = await shop.test_client().post(
            "/webhooks/stripe", data=body, headers=signed(body, secret)
        )
        assert answer.status_code == 200
    return len(events)


async def test_part_of_a_line_refunded_with_its_copies_restocked_then_the_rest(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    await stock_of(shop).set(BOOK, 5, "count")
    order = await paid_order(shop, shopper, sandbox, (BOOK, 2))
    assert order.amount == 2 * PRICE + DELIVERY
    assert await stock_of(shop).levels(BOOK) == [StockLevel(BOOK, 3, 0, 2)]

    body, confirm = await confirm_page(owner, order, [*lines((BOOK, 1)), ("restock", "1")])
    assert "Refund 29.00 SGD of 62.00 SGD to Visa •••• 4242?" in body
    assert "Back in stock: 1 \u00d7 Code: The Hidden Language" in body
    # Nothing is refunded before the confirmation.
    assert charge_at_stripe(sandbox, order.intent_id).amount_refunded == 0

    done = await send(owner, url(order, "refund/confirm"), confirm)
    assert done.status_code == 303
    assert done.headers["Location"] == f"/admin/orders/{order.intent_id}"
    after = await order_of(shop, order.intent_id)
    assert (after.status, after.amount_refunded) == ("paid", PRICE)
    assert await stock_of(shop).levels(BOOK) == [StockLevel(BOOK, 4, 0, 1)]
    assert await returned_moves(shop) == [(1, order.intent_id)]
    page = await text(await owner.get(f"/admin/orders/{order.intent_id}"))
    assert "Refunded 29.00 SGD of 62.00 SGD" in page

    # The rest: the other copy and the delivery, not put back (it came back torn).
    done = await refund(
        owner, order, [*lines((BOOK, 1), reason="torn in the post"), ("delivery", "1")]
    )
    assert done.status_code == 303
    after = await order_of(shop, order.intent_id)
    assert (after.status, after.amount_refunded) == ("refunded", order.amount)
    assert await stock_of(shop).levels(BOOK) == [StockLevel(BOOK, 4, 0, 1)]
    charge = charge_at_stripe(sandbox, order.intent_id)
    assert (charge.amount_refunded, charge.refunded) == (order.amount, True)
    assert sorted(refund.amount for refund in refunds_at_stripe(sandbox, order.intent_id)) == [
        PRICE,
        PRICE + DELIVERY,
    ]
    entries = await refund_entries(shop, order)
    assert [(entry.actor, entry.after and entry.after["amount"]) for entry in entries] == [
        (OWNER_EMAIL, PRICE + DELIVERY),
        (OWNER_EMAIL, PRICE),
    ]
    assert [entry.after and entry.after["restocked"] for entry in entries] == [False, True]


async def test_an_amount_is_refunded_as_typed_and_puts_nothing_back(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    await stock_of(shop).set(BOOK, 5, "count")
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))

    body, confirm = await confirm_page(
        owner, order, [("amount", "5.00"), ("reason", "late delivery"), ("restock", "1")]
    )
    assert "Refund 5.00 SGD of" in body and "Nothing goes back in stock." in body
    assert (await send(owner, url(order, "refund/confirm"), confirm)).status_code == 303

    after = await order_of(shop, order.intent_id)
    assert (after.status, after.amount_refunded) == ("paid", 500)
    assert charge_at_stripe(sandbox, order.intent_id).amount_refunded == 500
    assert await returned_moves(shop) == []
    (refund_made,) = refunds_at_stripe(sandbox, order.intent_id)
    assert refund_made.metadata["reason"] == "late delivery"
    (entry,) = await refund_entries(shop, order)
    assert entry.after is not None
    assert (entry.after["amount"], entry.after["refund"]) == (500, refund_made.id)


async def test_the_whole_payment_refunded_moves_the_order_to_refunded(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))

    done = await refund(owner, order, [("amount", f"{order.amount / 100:.2f}"), ("reason", "x")])

    assert done.status_code == 303
    after = await order_of(shop, order.intent_id)
    assert (after.status, after.amount_refunded) == ("refunded", order.amount)
    assert charge_at_stripe(sandbox, order.intent_id).refunded is True
    page = await text(await owner.get(f"/admin/orders/{order.intent_id}"))
    assert 'action="/admin/orders/' + order.intent_id + '/refund"' not in page


async def test_the_same_confirmation_sent_twice_refunds_restocks_and_logs_once(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    await stock_of(shop).set(BOOK, 5, "count")
    order = await paid_order(shop, shopper, sandbox, (BOOK, 2))
    _, confirm = await confirm_page(owner, order, [*lines((BOOK, 1)), ("restock", "1")])

    # A double click (both at once), then the back button and Refund again.
    twice = await asyncio.gather(
        send(owner, url(order, "refund/confirm"), confirm),
        send(owner, url(order, "refund/confirm"), confirm, HTMX),
    )
    again = await send(owner, url(order, "refund/confirm"), confirm)

    assert [answer.status_code for answer in twice] == [303, 204]
    assert again.status_code == 303
    assert len(refunds_at_stripe(sandbox, order.intent_id)) == 1
    assert charge_at_stripe(sandbox, order.intent_id).amount_refunded == PRICE
    assert (await order_of(shop, order.intent_id)).amount_refunded == PRICE
    assert len(await refund_entries(shop, order)) == 1
    assert await returned_moves(shop) == [(1, order.intent_id)]
    assert await stock_of(shop).levels(BOOK) == [StockLevel(BOOK, 4, 0, 1)]


async def test_the_ledger_agrees_after_stripes_webhook_and_reconcile(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    await stock_of(shop).set(BOOK, 5, "count")
    # Reconcile reads the payments made since a whole second: from the next one on, this test's.
    await asyncio.sleep(1 - time.time() % 1)
    since = datetime.now(UTC)
    order = await paid_order(shop, shopper, sandbox, (BOOK, 2))
    await refund(owner, order, [*lines((BOOK, 1)), ("restock", "1")])
    await refund(owner, order, [*lines((BOOK, 1)), ("delivery", "1")])
    refunded = await order_of(shop, order.intent_id)
    assert (refunded.status, refunded.amount_refunded) == ("refunded", order.amount)
    moves = await moves_of(shop, order)

    charge = charge_at_stripe(sandbox, order.intent_id)
    assert await deliver_refund_events(shop, sandbox, charge.id) == 2
    after_events = await order_of(shop, order.intent_id)
    assert (after_events.status, after_events.amount_refunded) == ("refunded", order.amount)

    result = await cli.reconcile(shop.extensions["settings"], since)
    assert (result.checked, result.changes) == (1, [])
    after_reconcile = await order_of(shop, order.intent_id)
    assert (after_reconcile.status, after_reconcile.amount_refunded) == ("refunded", order.amount)
    # The order's stock moved once, for the refund that asked, whatever Stripe said since.
    assert await moves_of(shop, order) == moves
    assert await returned_moves(shop) == [(1, order.intent_id)]


async def test_a_confirmation_after_a_timeout_that_had_refunded_refunds_nothing_more(
    shop: Quart,
    shopper: Client,
    owner: Client,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))
    _, confirm = await confirm_page(owner, order, lines((OTHER, 1)))
    gateway: Payments = shop.extensions["payments"]
    refunding = gateway.refund

    async def answer_lost(*args: Any, **kwargs: Any) -> Intent:
        # Stripe refunds, and its answer never arrives.
        await refunding(*args, **kwargs)
        raise PaymentsUnavailable

    monkeypatch.setattr(gateway, "refund", answer_lost)
    lost = await send(owner, url(order, "refund/confirm"), confirm)
    body = await lost.get_data(as_text=True)
    assert lost.status_code == 503
    assert "Nothing was refunded; try again." in await text(lost)
    assert "refunds nothing more" in await text(lost)
    # The page carries the same confirmation, key and all.
    again = [(name, value) for name, value in confirmation(body) if name != "csrf_token"]
    assert again == [(name, value) for name, value in confirm if name != "csrf_token"]
    assert (await order_of(shop, order.intent_id)).amount_refunded == 0

    monkeypatch.setattr(gateway, "refund", refunding)
    retried = await send(owner, url(order, "refund/confirm"), confirmation(body))

    assert retried.status_code == 303
    assert len(refunds_at_stripe(sandbox, order.intent_id)) == 1
    assert (await order_of(shop, order.intent_id)).amount_refunded == OTHER_PRICE
    assert len(await refund_entries(shop, order)) == 1


async def test_stripe_unreachable_is_a_503_that_refunds_nothing(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))
    _, confirm = await confirm_page(owner, order, lines((OTHER, 1)))

    sandbox.set_faults(fail_rate=1.0)
    down = await send(owner, url(order, "refund/confirm"), confirm, HTMX)
    sandbox.set_faults()

    body = await text(down)
    assert down.status_code == 503 and "<html" not in body
    assert 'id="refund-unavailable"' in body and "the card it was paid with" in body
    assert refunds_at_stripe(sandbox, order.intent_id) == []
    assert (await order_of(shop, order.intent_id)).amount_refunded == 0
    assert await refund_entries(shop, order) == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ([("amount", "1000.00"), ("reason", "x")], "is left to refund"),
        ([("amount", "0"), ("reason", "x")], "more than nothing"),
        ([("amount", "5.001"), ("reason", "x")], "at most 2 decimal places"),
        ([("amount", "five"), ("reason", "x")], "as a number"),
        ([("amount", "5.00")], "Say why"),
        ([("amount", "5.00"), ("reason", "x\u202ey")], "printable"),
        ([("reason", "x")], "Tick the books"),
        ([*lines((BOOK, 1)), ("amount", "5.00")], "not both"),
        (lines((BOOK, 3)), "Choose from 1 to 1 copies"),
    ],
)
async def test_a_refund_that_cant_be_had_is_a_422_on_the_page_and_nothing_is_refunded(
    shop: Quart,
    shopper: Client,
    owner: Client,
    sandbox: SandboxServer,
    fields: list[tuple[str, str]],
    says: str,
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))

    refused = await send(owner, url(order), fields)

    body = await text(refused)
    assert refused.status_code == 422
    assert 'id="refund-error"' in body and says in body
    assert "<html" in body and 'id="order-actions"' in body  # the order's page, form and all
    assert refunds_at_stripe(sandbox, order.intent_id) == []


async def test_copies_refunded_before_are_not_refunded_again(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 2))
    await refund(owner, order, lines((BOOK, 2)))

    again = await send(owner, url(order), lines((BOOK, 1)))

    assert again.status_code == 422
    assert "Only 0 of 2 copies of Code" in await text(again)


async def test_the_refund_form_comes_back_with_what_was_sent_for_htmx(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))

    refused = await send(owner, url(order), [("amount", "1000.00"), ("reason", "dented")], HTMX)

    body = await text(refused)
    assert refused.status_code == 422
    assert body.lstrip().startswith('<section id="order-actions"')
    assert 'value="1000.00"' in body and 'value="dented"' in body
    assert "Only 52.00 SGD of 52.00 SGD is left to refund" in body


async def test_the_confirmation_swaps_in_for_htmx_and_its_answer_loads_the_order(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))

    asked = await send(owner, url(order), lines((OTHER, 1)), HTMX)
    body = await asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert body.lstrip().startswith('<section id="order-actions"') and "<html" not in body
    assert "Refund 19.00 SGD of 52.00 SGD to Visa •••• 4242?" in await text(asked)

    done = await send(owner, url(order, "refund/confirm"), confirmation(body), HTMX)

    assert done.status_code == 204
    assert done.headers["HX-Redirect"] == f"/admin/orders/{order.intent_id}"
    assert (await order_of(shop, order.intent_id)).amount_refunded == OTHER_PRICE


async def test_stripe_refusing_is_a_422_with_its_words(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))
    _, confirm = await confirm_page(owner, order, lines((OTHER, 1)))
    # Meanwhile, someone refunds the whole payment in Stripe's dashboard.
    sandbox.client().v1.refunds.create(params={"payment_intent": order.intent_id})

    refused = await send(owner, url(order, "refund/confirm"), confirm)

    assert refused.status_code == 422
    assert "refunded in full already" in await text(refused)
    assert await refund_entries(shop, order) == []


async def test_an_unpaid_order_is_not_refunded(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    answer = await press_pay(shopper, sandbox, f"/checkout/{BOOK}", THREE_D_SECURE)
    assert answer.status_code == 200
    intent_id = await session_intent(shopper, BOOK)
    assert intent_id is not None
    order = await order_of(shop, intent_id)

    refused = await send(owner, url(order), [("amount", "5.00"), ("reason", "x")])

    assert refused.status_code == 422
    assert "This order is not paid" in await text(refused)


async def test_a_tampered_or_unknown_confirmation_is_refused(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))
    _, confirm = await confirm_page(owner, order, lines((OTHER, 1)))
    more = [(name, "1" if name == "total" else value) for name, value in confirm]
    keyless = [(name, value) for name, value in confirm if name != "token"]

    assert (await send(owner, url(order, "refund/confirm"), more)).status_code == 400
    assert (await send(owner, url(order, "refund/confirm"), keyless)).status_code == 400
    unknown = "/admin/orders/pi_0000000000000000000000aa/refund"
    assert (await send(owner, unknown, lines((OTHER, 1)))).status_code == 404
    assert refunds_at_stripe(sandbox, order.intent_id) == []


async def test_staff_who_are_not_the_owner_get_403_on_refunds(
    shop: Quart, shopper: Client, packer: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))
    _, confirm = await confirm_page(owner, order, lines((OTHER, 1)))

    asked = await send(packer, url(order), lines((OTHER, 1)))
    confirmed = await send(packer, url(order, "refund/confirm"), confirm)

    assert (asked.status_code, confirmed.status_code) == (403, 403)
    assert refunds_at_stripe(sandbox, order.intent_id) == []
    page = await text(await packer.get(f"/admin/orders/{order.intent_id}"))
    assert "/refund" not in page and "Mark shipped" in page


async def test_the_refund_form_shows_only_for_a_paid_order(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox, (BOOK, 1), (OTHER, 1))
    page = await text(await owner.get(f"/admin/orders/{order.intent_id}"))
    assert f'action="{url(order)}"' in page

    async with ledger_of(shop).database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == order.intent_id).values(status="canceled")
        )
    page = await text(await owner.get(f"/admin/orders/{order.intent_id}"))
    assert f'action="{url(order)}"' not in page


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("5", "sgd", 500),
        ("5.00", "sgd", 500),
        (" 1,250.50 ", "sgd", 125050),
        ("5.00 SGD", "sgd", 500),
        ("0.01", "sgd", 1),
        ("500", "jpy", 500),
    ],
)
def test_money_typed_is_read_in_the_currencys_minor_units(
    typed: str, currency: str, minor: int
) -> None:
    assert typed_amount(typed, currency, "en_SG") == minor


@pytest.mark.parametrize(
    ("typed", "currency"),
    [
        ("", "sgd"),
        ("-5", "sgd"),
        ("0.00", "sgd"),
        ("NaN", "sgd"),
        ("Infinity", "sgd"),
        ("1,2", "sgd"),
        ("5.5", "jpy"),
        ("5.001", "sgd"),
        ("9" * 31, "sgd"),
    ],
)
def test_money_that_is_not_a_positive_amount_is_refused(typed: str, currency: str) -> None:
    with pytest.raises(Refusal):
        typed_amount(typed, currency, "en_SG")
