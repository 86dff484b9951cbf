"""The delivery address through the checkout: what it adds to the summary and the total, what the
pay step charges for it, and how long the session keeps it. (The form itself, field by field, is
tests/test_address.py's.)"""

from __future__ import annotations

import re

import pytest
from quart import Quart

from tests.checkout.steps import (
    LONDON,
    approve_3d_secure,
    client_secret_of,
    move_to,
    pushed_intent,
    result_query,
    start_3d_secure,
)
from tests.fixtures.app import (
    HTMX,
    SINGAPORE,
    Client,
    delivered,
    intents_of_checkout,
    post,
)
from tests.fixtures.paying import (
    DECLINED,
    EMAIL,
    fill_cart,
    press_pay,
    session_intent,
    shown_on,
)
from tests.fixtures.sandbox import SandboxServer


async def test_the_summary_shows_books_delivery_and_total_and_the_intent_carries_the_address(
    client: Client, sandbox: SandboxServer
) -> None:
    body = await (await client.get("/checkout/code")).get_data(as_text=True)
    assert re.search(r'class="col-5 text-end mb-1 subtotal">29.00\xa0SGD<', body)
    assert re.search(r'class="col-5 text-end mb-1 shipping">3.00\xa0SGD<', body)
    assert "(1-2 working days)" in body
    assert 'class="total" data-amount="3200"' in body
    assert "1 Straits View<br>#12-01<br>Singapore 018937<br>Singapore" in body
    assert 'data-country="SG"' in body  # the Payment Element's billing country

    paid = await press_pay(client, sandbox, "/checkout/code", page=body)

    intent = sandbox.client().v1.payment_intents.retrieve(pushed_intent(paid))
    assert intent.amount == 3200 and intent.metadata["shipping"] == "300"
    assert intent.to_dict()["shipping"] == {
        "address": {
            "city": "Singapore",
            "country": "SG",
            "line1": "1 Straits View",
            "line2": "#12-01",
            "postal_code": "018937",
            "state": None,
        },
        "carrier": None,
        "name": "Ada Reader",
        "phone": None,
        "tracking_number": None,
    }


async def test_changing_the_country_reprices_the_page_and_the_intent_a_decline_left(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 1))
    before = await (await client.get("/checkout")).get_data(as_text=True)
    assert f'class="total" data-amount="{2900 + 2200 + 400}"' in before
    assert (await press_pay(client, sandbox, "/checkout", DECLINED, page=before)).status_code == 402
    intent_id = await session_intent(client)
    assert intent_id is not None

    await move_to(client, **LONDON)
    after = await (await client.get("/checkout")).get_data(as_text=True)
    # The rest of the world: 18.00 SGD for the first book, 5.00 SGD for each further one.
    assert f'class="total" data-amount="{2900 + 2200 + 1800 + 500}"' in after
    paid = await press_pay(client, sandbox, "/checkout", page=after)

    assert paid.status_code == 200 and pushed_intent(paid) == intent_id
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount) == ("succeeded", 2900 + 2200 + 1800 + 500)
    assert intent.metadata["shipping"] == "2300"
    assert intent.shipping.address.country == "GB"  # type: ignore[union-attr]
    assert intent.shipping.address.postal_code == "N1 9GU"  # type: ignore[union-attr]
    assert [each.id for each in intents_of_checkout(sandbox, intent.metadata["checkout"])] == [
        intent_id
    ]


async def test_enough_books_ship_free_on_the_page_and_in_the_charge(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 1), ("mythical-man-month", 1))
    body = await (await client.get("/checkout")).get_data(as_text=True)
    assert re.search(r'class="col-5 text-end mb-1 shipping">Free<', body)
    assert 'class="total" data-amount="8300"' in body  # 83.00 SGD of books, over 60.00

    paid = await press_pay(client, sandbox, "/checkout", page=body)

    intent = sandbox.client().v1.payment_intents.retrieve(pushed_intent(paid))
    assert (intent.amount, intent.metadata["shipping"]) == (8300, "0")


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_a_page_that_shows_the_old_address_gets_the_new_total_before_paying(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    await move_to(client, **LONDON)  # in another tab

    stale = await press_pay(client, sandbox, "/checkout", page=page, headers=headers)
    body = await stale.get_data(as_text=True)

    assert stale.status_code == 409
    assert ("<html" in body) is (headers is None)
    assert 'class="total" data-amount="4700"' in body  # 29 + 18 to London
    assert "London" in body
    assert await session_intent(client) is None  # nothing was made, let alone charged


async def test_a_page_showing_another_address_in_the_same_zone_is_asked_again(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    await move_to(client, line1="99 Other Road")  # another tab; the price stays the same

    stale = await press_pay(client, sandbox, "/checkout", page=page)

    assert stale.status_code == 409
    body = await stale.get_data(as_text=True)
    assert "99 Other Road" in body and 'class="total" data-amount="3200"' in body
    assert await session_intent(client) is None


@pytest.mark.parametrize("total", ["", "29.00", "\u00b2", "\u0661"])
async def test_a_pay_step_whose_total_is_not_a_whole_number_is_a_400(
    client: Client, total: str
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    # Refused before the token is read: this one need not exist.
    form = shown_on(page, email=EMAIL, confirmation_token="ctoken_unread") | {"total": total}
    refused = await post(client, "/checkout/pay", form, HTMX)
    assert refused.status_code == 400
    assert "total" in await refused.get_data(as_text=True)


async def test_the_address_step_leads_only_to_a_quantity_it_can_read(client: Client) -> None:
    for quantity, leads_to in (("3", "/checkout/code?quantity=3"), ("²", "/checkout/code")):
        form = {**SINGAPORE, "next": f"/checkout/code?quantity={quantity}"}
        response = await post(client, "/checkout/address", form)
        assert (response.status_code, response.headers["Location"]) == (303, leads_to)


async def test_the_receipt_and_the_ledger_keep_the_address_and_the_delivery(
    shop: Quart, shopper: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(shopper, ("code", 2))
    paid = await press_pay(shopper, sandbox, "/checkout")
    intent_id = pushed_intent(paid)
    query = result_query(intent_id, client_secret_of(sandbox, intent_id))

    for receipt in (
        await paid.get_data(as_text=True),
        await (await shopper.get(f"/success?{query}")).get_data(as_text=True),
    ):
        assert re.search(r'order-subtotal">58.00\xa0SGD<', receipt)
        assert re.search(r'order-shipping">4.00\xa0SGD<', receipt)
        assert re.search(r'receipt-amount">62.00\xa0SGD<', receipt)
        assert "Delivering to" in receipt and "1 Straits View" in receipt
    order = await shop.extensions["ledger"].get(intent_id)
    assert order is not None and (order.status, order.amount, order.shipping) == (
        "paid",
        6200,
        400,
    )
    assert order.address is not None and order.address.postal_code == "018937"
    # Paid: the address leaves the session with the cart.
    async with shopper.session_transaction() as session:
        assert "address" not in session and "cart" not in session


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_a_book_bought_now_takes_the_address_out_of_the_session_once_paid(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    paid = await press_pay(client, sandbox, "/checkout/code", headers=headers)
    assert paid.status_code == 200
    assert 'data-outcome="succeeded"' in await paid.get_data(as_text=True)
    async with client.session_transaction() as session:
        assert "address" not in session


async def test_a_book_bought_now_leaves_the_address_while_the_cart_still_holds_books(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("hackers", 1))
    assert (await press_pay(client, sandbox, "/checkout/code")).status_code == 200
    async with client.session_transaction() as session:
        assert session["address"]["postal_code"] == "018937"
        assert session["cart"] == [["hackers", 1]]


async def test_books_added_while_paying_stay_in_the_cart_with_the_address_after_the_payment(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 2))
    intent_id, secret = await start_3d_secure(client, sandbox, "/checkout")
    await fill_cart(client, ("hackers", 1), ("code", 1))  # in another tab, before the result
    approve_3d_secure(sandbox, intent_id, secret)

    assert (await client.get(f"/success?{result_query(intent_id, secret)}")).status_code == 200

    async with client.session_transaction() as session:
        assert session["cart"] == [["code", 1], ["hackers", 1]]
        assert session["address"]["postal_code"] == "018937"  # still something to deliver
    # What stayed is a new order, paid with a new intent.
    assert await session_intent(client) is None
    paid = await press_pay(client, sandbox, "/checkout")
    assert paid.status_code == 200 and pushed_intent(paid) != intent_id
    assert sandbox.client().v1.payment_intents.retrieve(pushed_intent(paid)).amount == (
        delivered(2900 + 2200, 2)
    )
