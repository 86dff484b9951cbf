"""Two tabs of one browser session on one checkout: whatever either shows, Pay charges exactly
the page it was pressed on (or says what changed), the intent a decline left is repriced rather
than replaced, and the ledger ends with what Stripe charged."""

from __future__ import annotations

import re

import pytest
from quart import Quart, Response

from bookshop.orders import Ledger
from tests.checkout.steps import (
    books_in,
    pushed_intent,
    quantities,
    quantity_sent,
    start_3d_secure,
)
from tests.fixtures.app import (
    HTMX,
    Client,
    delivered,
    intents_of_checkout,
    post,
)
from tests.fixtures.paying import (
    DECLINED,
    EMAIL,
    VISA,
    confirmation_token,
    fill_cart,
    press_pay,
    session_intent,
    shown_on,
)
from tests.fixtures.sandbox import SandboxServer


async def test_two_tabs_the_ledger_ends_with_what_stripe_charged(
    shop: Quart, shopper: Client, sandbox: SandboxServer
) -> None:
    ledger: Ledger = shop.extensions["ledger"]
    # Tab 1 opens the checkout at 2 copies, tab 2 at 5: looking writes nothing anywhere.
    tab_1 = await (await shopper.get("/checkout/code?quantity=2")).get_data(as_text=True)
    tab_2 = await (await shopper.get("/checkout/code?quantity=5")).get_data(as_text=True)
    assert await ledger.recent() == []

    # Pay in tab 2 is declined: the ledger hears of the intent, at 5 copies, at once.
    declined = await press_pay(shopper, sandbox, "/checkout/code", DECLINED, page=tab_2)
    assert declined.status_code == 402
    intent_id = await session_intent(shopper, "code")
    assert intent_id is not None
    order = await ledger.get(intent_id)
    assert order is not None
    assert (order.status, quantities(order), order.amount) == ("failed", [5], delivered(14500, 5))

    # Pay in tab 1, which shows 2: the same intent, put back to 2 copies, is charged for them.
    paid = await press_pay(shopper, sandbox, "/checkout/code", page=tab_1, email="two@example.com")
    assert paid.status_code == 200 and pushed_intent(paid) == intent_id

    charged = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert charged.amount == delivered(5800, 2) and charged.metadata["lines_1"] == "code:2:2900"
    order = await ledger.get(intent_id)
    assert order is not None
    assert (order.status, quantities(order), order.amount, order.email) == (
        "paid",
        [2],
        charged.amount,
        "two@example.com",
    )
    assert [order.intent_id for order in await ledger.recent()] == [intent_id]


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_a_stale_page_gets_the_fresh_summary_and_paying_from_it_charges_its_total(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    await fill_cart(client, ("code", 1))
    first_tab = await (await client.get("/checkout")).get_data(as_text=True)
    # The second tab adds a book and opens the checkout.
    await fill_cart(client, ("hackers", 1))
    await client.get("/checkout")

    stale = await press_pay(client, sandbox, "/checkout", page=first_tab, headers=headers)
    fresh = await stale.get_data(as_text=True)

    assert stale.status_code == 409
    assert ("<html" in fresh) is (headers is None)
    if headers:
        assert (stale.headers["HX-Retarget"], stale.headers["HX-Reswap"]) == (
            "#checkout-summary",
            "innerHTML",
        )
    assert "Your order changed since this page was shown" in fresh
    assert books_in(fresh) == ["code", "hackers"]
    assert f'class="total" data-amount="{delivered(5100, 2)}"' in fresh
    assert await session_intent(client) is None

    paid = await press_pay(client, sandbox, "/checkout", page=fresh, headers=headers)
    assert paid.status_code == 200
    intent_id = await intent_of_receipt(sandbox, paid)
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount, intent.receipt_email) == (
        "succeeded",
        delivered(5100, 2),
        EMAIL,
    )


async def intent_of_receipt(sandbox: SandboxServer, receipt: Response) -> str:
    """The paid intent a receipt answer is for: the URL htmx pushes, or the charge on the page."""
    if "HX-Push-Url" in receipt.headers:
        return pushed_intent(receipt)
    charge_id = re.search(
        r'class="charge-id">(ch_[A-Za-z0-9]+)<', await receipt.get_data(as_text=True)
    )
    assert charge_id, "the receipt names its charge"
    return str(sandbox.client().v1.charges.retrieve(charge_id[1]).payment_intent)


async def test_a_retry_after_a_decline_and_a_changed_cart_reprices_the_same_intent(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    assert (await press_pay(client, sandbox, "/checkout", DECLINED)).status_code == 402
    intent_id = await session_intent(client)
    assert intent_id is not None
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).amount == delivered(7300, 3)

    await fill_cart(client, ("mythical-man-month", 1))  # another tab
    paid = await press_pay(client, sandbox, "/checkout")

    assert paid.status_code == 200 and pushed_intent(paid) == intent_id
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount) == ("succeeded", delivered(7300 + 3200, 4))
    assert intent.metadata["lines_1"] == "code:1:2900,hackers:2:2200,mythical-man-month:1:3200"
    assert [each.id for each in intents_of_checkout(sandbox, intent.metadata["checkout"])] == [
        intent_id
    ]


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
@pytest.mark.parametrize(
    ("meanwhile", "lands"),
    [
        # Paid for elsewhere in this session meanwhile, which took the address: ask for it again.
        ("address", "/checkout/address?next=/checkout"),
        ("cart", "/cart"),  # emptied in another tab: nothing to pay for
    ],
)
async def test_a_pay_step_whose_address_or_cart_went_meanwhile_goes_where_the_shopper_can_go_on(
    client: Client,
    sandbox: SandboxServer,
    headers: dict[str, str] | None,
    meanwhile: str,
    lands: str,
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    async with client.session_transaction() as session:
        del session[meanwhile]

    response = await press_pay(client, sandbox, "/checkout", page=page, headers=headers)

    if headers:  # checkout.js follows HX-Redirect on a 409
        assert response.status_code == 409
        assert response.headers["HX-Redirect"] == lands
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == lands
    assert await session_intent(client) is None  # nothing was made, let alone charged


async def test_while_3d_secure_is_under_way_another_tabs_page_view_changes_nothing_it_charges(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    intent_id, _ = await start_3d_secure(client, sandbox, "/checkout")
    await fill_cart(client, ("hackers", 3))  # meanwhile, in another tab

    other_tab = await client.get("/checkout")

    # A page view asks nothing of Stripe: it shows the cart as it is now (paying from it is
    # answered with what the intent pays for, test_pay.py), and the intent stays as confirmed.
    assert other_tab.status_code == 200
    assert books_in(await other_tab.get_data(as_text=True)) == ["code", "hackers"]
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount, intent.metadata["lines_1"]) == (
        "requires_action",
        delivered(2900, 1),
        "code:1:2900",
    )
    assert await session_intent(client) == intent_id


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_a_buy_now_reloaded_during_3d_secure_pays_for_the_copies_it_shows(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    intent_id, _ = await start_3d_secure(
        client, sandbox, "/checkout/code?quantity=3", headers=headers
    )
    page = await (await client.get("/checkout/code?quantity=3")).get_data(as_text=True)
    assert quantity_sent(page) == "3"

    again = await press_pay(client, sandbox, "/checkout/code", VISA, page=page, headers=headers)

    assert again.status_code == 200, await again.get_data(as_text=True)
    assert 'data-outcome="succeeded"' in await again.get_data(as_text=True)
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount, intent.metadata["lines_1"]) == (
        "succeeded",
        delivered(8700, 3),
        "code:3:2900",
    )


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_while_3d_secure_is_under_way_a_stale_page_cannot_change_what_it_charges(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    stale_page = await (await client.get("/checkout/code?quantity=5")).get_data(as_text=True)
    intent_id, _ = await start_3d_secure(
        client, sandbox, "/checkout/code?quantity=3", headers=headers
    )

    # A tab opened earlier shows 5 copies: it gets what is being paid, read only.
    stale = await press_pay(client, sandbox, "/checkout/code", page=stale_page, headers=headers)
    summary = await stale.get_data(as_text=True)

    assert stale.status_code == 409
    assert ("<html" in summary) is (headers is None)
    assert f'class="total" data-amount="{delivered(8700, 3)}"' in summary
    assert "<select" not in summary and "Change the address" not in summary
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount) == ("requires_action", delivered(8700, 3))

    # Pay from that summary, sending what checkout.js sends (the read-only `#quantity`).
    sent = quantity_sent(summary)
    form = shown_on(
        summary,
        email=EMAIL,
        quantity=sent,
        confirmation_token=confirmation_token(sandbox, VISA),
    )
    paid = await post(client, "/checkout/code/pay", form, headers)
    assert paid.status_code == 200, await paid.get_data(as_text=True)
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount, intent.metadata["lines_1"]) == (
        "succeeded",
        delivered(8700, 3),
        "code:3:2900",
    )
    # Read only, the summary still says how many copies it shows.
    assert sent == "3"
