"""Marking an order shipped from its page: a paid order with nothing to look at first is marked
once, with its carrier, tracking number and an audit entry; a flagged, unpaid or shipped one is
refused with what to do instead."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import pytest
from quart import Quart, Response
from sqlalchemy import update

from bookshop.admin import audit
from bookshop.orders import Ledger, Order
from bookshop.orders.schema import OUT_OF_STOCK, orders
from tests.checkout.steps import pushed_intent
from tests.fixtures.app import HTMX, Client, post
from tests.fixtures.paying import THREE_D_SECURE, VISA, press_pay, session_intent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.staff import OWNER_EMAIL, STAFF_EMAIL

BOOK = "code"
PARCEL = {"carrier": "SingPost", "tracking_number": "RR123456789SG"}


def ledger_of(shop: Quart) -> Ledger:
    ledger: Ledger = shop.extensions["ledger"]
    return ledger


async def order_of(shop: Quart, intent_id: str) -> Order:
    order = await ledger_of(shop).get(intent_id)
    assert order is not None
    return order


async def paid_order(shop: Quart, shopper: Client, sandbox: SandboxServer) -> Order:
    """The shopper buys a book by Visa: the paid order."""
    answer = await press_pay(shopper, sandbox, f"/checkout/{BOOK}", VISA)
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    order = await order_of(shop, pushed_intent(answer))
    assert order.status == "paid"
    return order


async def change(shop: Quart, order: Order, **values: Any) -> None:
    """Change the order's row as another path would (a flag, a refund, a status)."""
    async with ledger_of(shop).database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == order.intent_id).values(**values)
        )


def ship_url(order: Order) -> str:
    return f"/admin/orders/{order.intent_id}/ship"


async def text(response: Response) -> str:
    """A page's text as staff read it (entities decoded)."""
    return html.unescape(await response.get_data(as_text=True))


async def shipped_entries(shop: Quart, order: Order) -> list[audit.Entry]:
    found, _ = await audit.entries(ledger_of(shop).database, subject=f"order {order.intent_id}")
    return [entry for entry in found if entry.action == "marked shipped"]


async def test_staff_mark_a_paid_order_shipped_with_its_carrier_and_tracking_number(
    shop: Quart, shopper: Client, packer: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox)
    page = await text(await packer.get(f"/admin/orders/{order.intent_id}"))
    assert f'action="{ship_url(order)}"' in page

    done = await post(packer, ship_url(order), PARCEL)

    assert done.status_code == 303
    assert done.headers["Location"] == f"/admin/orders/{order.intent_id}"
    shipped = await order_of(shop, order.intent_id)
    assert shipped.shipped_at is not None
    assert (shipped.carrier, shipped.tracking_number) == ("SingPost", "RR123456789SG")
    (entry,) = await shipped_entries(shop, order)
    assert entry.actor == STAFF_EMAIL
    assert entry.after is not None and entry.after["carrier"] == "SingPost"
    page = await text(await packer.get(f"/admin/orders/{order.intent_id}"))
    assert "RR123456789SG" in page and f'action="{ship_url(order)}"' not in page


async def test_the_owner_may_mark_shipped_too_and_a_tracking_number_is_optional(
    shop: Quart, shopper: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox)

    done = await post(
        owner, ship_url(order), {"carrier": "  Hand   delivered ", "tracking_number": ""}
    )

    assert done.status_code == 303
    shipped = await order_of(shop, order.intent_id)
    assert (shipped.carrier, shipped.tracking_number) == ("Hand delivered", None)
    (entry,) = await shipped_entries(shop, order)
    assert entry.actor == OWNER_EMAIL


async def test_an_order_shipped_already_is_a_409_and_keeps_its_first_parcel(
    shop: Quart, shopper: Client, packer: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox)
    await post(packer, ship_url(order), PARCEL)

    again = await post(packer, ship_url(order), {"carrier": "DHL", "tracking_number": "1"})

    assert again.status_code == 409
    assert "marked shipped already" in await text(again)
    assert (await order_of(shop, order.intent_id)).carrier == "SingPost"
    assert len(await shipped_entries(shop, order)) == 1


async def test_two_staff_pressing_at_once_ship_it_once(
    shop: Quart, shopper: Client, packer: Client, owner: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox)

    answers = await asyncio.gather(
        post(packer, ship_url(order), PARCEL), post(owner, ship_url(order), PARCEL, HTMX)
    )

    assert sorted(answer.status_code for answer in answers) in ([204, 409], [303, 409])
    assert len(await shipped_entries(shop, order)) == 1


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"review": "address changed at Stripe"}, "Look at the review first"),
        ({"refund_reason": OUT_OF_STOCK}, "it is to be refunded"),
        ({"status": "refunded"}, "refunded in full"),
    ],
)
async def test_an_order_to_look_at_first_is_refused_with_why(
    shop: Quart,
    shopper: Client,
    packer: Client,
    sandbox: SandboxServer,
    values: dict[str, str],
    says: str,
) -> None:
    order = await paid_order(shop, shopper, sandbox)
    await change(shop, order, **values)
    page = await text(await packer.get(f"/admin/orders/{order.intent_id}"))
    assert f'action="{ship_url(order)}"' not in page

    refused = await post(packer, ship_url(order), PARCEL)

    assert refused.status_code == 422
    body = await text(refused)
    assert 'id="ship-error"' in body and says in body
    assert (await order_of(shop, order.intent_id)).shipped_at is None
    assert await shipped_entries(shop, order) == []


async def test_an_unpaid_order_is_refused(
    shop: Quart, shopper: Client, packer: Client, sandbox: SandboxServer
) -> None:
    answer = await press_pay(shopper, sandbox, f"/checkout/{BOOK}", THREE_D_SECURE)
    assert answer.status_code == 200
    intent_id = await session_intent(shopper, BOOK)
    assert intent_id is not None

    refused = await post(packer, f"/admin/orders/{intent_id}/ship", PARCEL)

    assert refused.status_code == 422
    assert "This order is not paid" in await text(refused)
    assert (await order_of(shop, intent_id)).shipped_at is None


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"carrier": "", "tracking_number": "1"}, "Say which carrier"),
        ({"carrier": "   "}, "Say which carrier"),
        ({"carrier": "x" * 101}, "at most 100 characters"),
        ({"carrier": "SingPost", "tracking_number": "9" * 101}, "at most 100 characters"),
        ({"carrier": "Sing\x1bPost"}, "without control or invisible characters"),
        ({"carrier": "SingPost", "tracking_number": "RR\u200b123"}, "without control"),
    ],
)
async def test_a_carrier_or_tracking_number_that_cant_be_stored_is_a_422(
    shop: Quart,
    shopper: Client,
    packer: Client,
    sandbox: SandboxServer,
    form: dict[str, str],
    says: str,
) -> None:
    order = await paid_order(shop, shopper, sandbox)

    refused = await post(packer, ship_url(order), form)

    assert refused.status_code == 422
    body = await text(refused)
    assert says in body and "<html" in body
    assert (await order_of(shop, order.intent_id)).shipped_at is None


async def test_htmx_gets_the_forms_back_with_the_problem_or_loads_the_order_when_done(
    shop: Quart, shopper: Client, packer: Client, sandbox: SandboxServer
) -> None:
    order = await paid_order(shop, shopper, sandbox)

    refused = await post(packer, ship_url(order), {"carrier": "", "tracking_number": "RR1"}, HTMX)
    body = await text(refused)
    assert refused.status_code == 422
    assert body.lstrip().startswith('<section id="order-actions"') and "<html" not in body
    assert 'value="RR1"' in body and "Say which carrier" in body

    done = await post(packer, ship_url(order), PARCEL, HTMX)

    assert done.status_code == 204
    assert done.headers["HX-Redirect"] == f"/admin/orders/{order.intent_id}"
    assert (await order_of(shop, order.intent_id)).carrier == "SingPost"


async def test_an_unknown_order_is_a_404(shop: Quart, packer: Client) -> None:
    missing = await post(packer, "/admin/orders/pi_0000000000000000000000aa/ship", PARCEL)

    assert missing.status_code == 404
