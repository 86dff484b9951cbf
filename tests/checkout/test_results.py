"""A payment's result, read on the server with the secret key: the order's confirmation, a
decline, where an unsettled payment stands, or that Stripe can't be reached. `/payment/status`
answers htmx with a fragment and anyone else with a page; `/success` (where Stripe sends shoppers
back) is the page."""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from quart import Quart, render_template

from bookshop.orders.links import order_token
from bookshop.payments import Intent, IntentLine, Payments
from tests.checkout.steps import (
    approve_3d_secure,
    books_in,
    client_secret_of,
    pushed_intent,
    result_query,
    start_3d_secure,
)
from tests.fixtures.app import (
    BOOKS,
    DECLINE_MESSAGES,
    HTMX,
    Client,
    decline_message,
    delivered,
)
from tests.fixtures.paying import (
    EMAIL,
    INSUFFICIENT_FUNDS,
    fill_cart,
    press_pay,
    session_intent,
)
from tests.fixtures.sandbox import SandboxServer


async def declined_payment(client: Client, sandbox: SandboxServer) -> tuple[str, str]:
    """A buy-now of one copy of "code" declined for insufficient funds: intent and secret."""
    declined = await press_pay(client, sandbox, "/checkout/code", INSUFFICIENT_FUNDS)
    assert declined.status_code == 402
    intent_id = await session_intent(client, "code")
    assert intent_id is not None
    return intent_id, client_secret_of(sandbox, intent_id)


async def test_a_paid_result_shows_the_confirmation_as_a_fragment_and_as_a_page_on_both_urls(
    app: Quart, client: Client, sandbox: SandboxServer
) -> None:
    paid = await press_pay(client, sandbox, "/checkout/working-in-public?quantity=2")
    intent_id = pushed_intent(paid)
    query = result_query(intent_id, client_secret_of(sandbox, intent_id))
    assert paid.headers["HX-Push-Url"] == f"/success?{query}"
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None
    charge = sandbox.client().v1.payment_intents.retrieve(intent_id).latest_charge
    assert charge

    fragment = await client.get(f"/payment/status?{query}", headers=HTMX)
    pages = [await client.get(url) for url in (f"/payment/status?{query}", f"/success?{query}")]

    # htmx swaps it for the whole checkout: the page's title and heading come with it.
    assert fragment.headers["HX-Retarget"] == "#main"
    assert fragment.headers["HX-Reswap"] == "innerHTML"
    assert fragment.headers["HX-Push-Url"] == f"/success?{query}"
    for response, partial in [(fragment, True), *((page, False) for page in pages)]:
        body = html.unescape(await response.get_data(as_text=True))
        assert response.status_code == 200
        assert ("<html" in body) is not partial
        assert "<title>Thank you \u2013 Bookshop</title>" in body
        assert '<h1 id="page-heading" class="h3 mb-4">Thank you for your order</h1>' in body
        assert 'data-outcome="succeeded"' in body
        assert f'Order <span class="order-number">{order.number}</span>' in body
        # What was bought, delivery and the total; where it goes and when.
        assert books_in(body) == ["working-in-public"]
        assert re.search(r'line-quantity">2</span> \u00d7 28.00\xa0SGD', body)
        assert 'order-subtotal">56.00\xa0SGD<' in body
        assert 'order-shipping">4.00\xa0SGD<' in body
        assert f'order-total">{delivered(5600, 2) // 100}.00\xa0SGD<' in body
        assert "Ada Reader<br>1 Straits View<br>#12-01<br>Singapore 018937" in body
        assert "Expect it in 1-2 working days." in body
        # The payment, the email on its way and the order's own page.
        assert "Payment received: <span" in body and "Visa ending 4242" in body
        assert str(charge) in body
        assert f"A confirmation email is on its way to <strong>{EMAIL}</strong>." in body
        link = f'href="/orders/{order_token("test-secret", order.number)}"'
        assert f'<a class="order-link" {link}>' in body
        # Nothing of the checkout: no card form, no second copy of the order, no empty cart.
        assert 'id="payment-form"' not in body and 'id="checkout-summary"' not in body
        assert body.count("order-lines") == 1
        assert "Back to your cart" not in body and "Back to the checkout" not in body
        assert 'href="/">Continue shopping</a>' in body
        # The fragment gives the confirmation the focus and says so; the page starts at the top.
        assert ('id="receipt-heading" class="h4" tabindex="-1" autofocus>' in body) is partial
        assert ("Payment received: 60.00\xa0SGD.</div>" in body) is partial


async def test_the_confirmations_link_opens_the_orders_page(
    client: Client, sandbox: SandboxServer
) -> None:
    paid = await press_pay(client, sandbox, "/checkout/code")
    link = re.search(r'class="order-link" href="([^"]+)"', await paid.get_data(as_text=True))
    assert link

    page = await client.get(link[1])

    body = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Order <span" in body and BOOKS["code"].title in body


async def test_a_declined_result_gives_the_reason_as_a_fragment_and_as_a_page(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await declined_payment(client, sandbox)
    query = result_query(intent_id, secret)
    message = decline_message("insufficient_funds")

    fragment = await client.get(f"/payment/status?{query}", headers=HTMX)
    body = html.unescape(await fragment.get_data(as_text=True))
    assert fragment.status_code == 200 and "<html" not in body
    assert 'data-outcome="declined"' in body and message in body
    assert "HX-Push-Url" not in fragment.headers

    for url in (f"/payment/status?{query}", f"/success?{query}"):
        page = html.unescape(await (await client.get(url)).get_data(as_text=True))
        assert "<html" in page and message in page
        assert "Payment received" not in page
        assert 'href="/checkout/code?quantity=1">Back to the checkout' in page


async def test_a_result_while_stripe_is_down_is_a_503_with_a_retry_on_both_paths(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await declined_payment(client, sandbox)
    query = result_query(intent_id, secret)
    sandbox.set_faults(fail_rate=1.0, fail_mode="drop")
    for headers in ({}, HTMX):
        response = await client.get(f"/payment/status?{query}", headers=headers)
        body = await response.get_data(as_text=True)
        assert response.status_code == 503
        assert ("<html" in body) is (not headers)
        assert "couldn't reach our payment provider. You have not been charged." in body
        retry = re.search(r'href="([^"]+)"\s+hx-get="[^"]+"[^>]*>Check again', body)
        assert retry and html.unescape(retry[1]) == f"/payment/status?{query}"


async def test_a_result_for_a_wrong_secret_or_an_unknown_intent_is_a_404(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await declined_payment(client, sandbox)
    for query in (
        f"payment_intent={intent_id}&payment_intent_client_secret={intent_id}_secret_forged",
        "payment_intent=pi_nope&payment_intent_client_secret=pi_nope_secret_x",
        f"payment_intent=pi_nope&payment_intent_client_secret={secret}",
        f"payment_intent={intent_id}&payment_intent_client_secret={secret}x",
    ):
        for url in (f"/payment/status?{query}", f"/success?{query}"):
            response = await client.get(url)
            assert response.status_code == 404, url
            assert "couldn&#39;t find that payment" in await response.get_data(as_text=True)


async def test_a_result_without_its_references_is_a_400(client: Client) -> None:
    for url in (
        "/payment/status",
        "/success?payment_intent=pi_x",
        "/success?payment_intent_client_secret=pi_x_secret_y",
    ):
        assert (await client.get(url)).status_code == 400, url


async def test_the_browsers_redirect_status_is_ignored_the_intent_says_where_it_stands(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await start_3d_secure(client, sandbox, "/checkout/code")
    response = await client.get(
        f"/success?{result_query(intent_id, secret)}&redirect_status=succeeded"
    )
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Payment received" not in body and "Thank you for your order" not in body
    assert 'data-outcome="needs_action"' in body


async def test_after_3d_secure_the_carts_confirmation_empties_the_cart_and_replaces_the_checkout(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    intent_id, secret = await start_3d_secure(client, sandbox, "/checkout")
    assert 'data-book="code"' in await (await client.get("/cart")).get_data(as_text=True)
    approve_3d_secure(sandbox, intent_id, secret)

    result = await client.get(f"/payment/status?{result_query(intent_id, secret)}", headers=HTMX)
    body = await result.get_data(as_text=True)

    assert result.status_code == 200
    assert result.headers["HX-Retarget"] == "#main"  # the summary and the card form go
    assert books_in(body) == ["code", "hackers"]
    assert 'order-total">73.00\xa0SGD' in body
    assert "<select" not in body and "Change your cart" not in body
    assert "Change the address" not in body
    assert 'id="cart-count" hx-swap-oob="innerHTML">0<' in body
    assert "Your cart is empty." in await (await client.get("/cart")).get_data(as_text=True)
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None and order.status == "paid" and order.amount == delivered(7300, 3)
    assert [(line.book_id, line.quantity, line.unit_price) for line in order.lines] == [
        ("code", 1, 2900),
        ("hackers", 2, 2200),
    ]
    assert order.lines[1].title == "Hackers: Heroes of the Computer Revolution"


async def test_the_event_loop_stays_free_while_many_result_reads_wait_on_stripe(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await declined_payment(client, sandbox)
    url = f"/payment/status?{result_query(intent_id, secret)}"
    sandbox.set_faults(latency_ms=1000)
    reads = [asyncio.ensure_future(client.get(url, headers=HTMX)) for _ in range(50)]
    await asyncio.sleep(0.2)  # every read is now waiting on the sandbox

    health = await client.get("/healthz")

    assert health.status_code == 200
    # /healthz answered while all 50 reads were still waiting on Stripe.
    assert not any(read.done() for read in reads)
    responses = await asyncio.gather(*reads)
    assert [response.status_code for response in responses] == [200] * 50


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("processing", 'hx-trigger="every 3s"'),
        ("needs_action", "Press Pay again"),
        ("canceled", "nothing was charged"),
    ],
)
async def test_unsettled_results_render_their_own_partial(
    client: Client, monkeypatch: pytest.MonkeyPatch, kind: str, text: str
) -> None:
    status = {"needs_action": "requires_action"}.get(kind, kind)

    async def payment_result(self: Payments, intent_id: str, client_secret: str) -> Intent:
        return Intent(
            id=intent_id,
            status=status,
            amount=2900,
            currency="sgd",
            created=0,
            client_secret=client_secret,
            lines=(IntentLine("code", 1, 2900),),
            checkout_id="c1",
            shipping=0,
            address=None,
            email=None,
            decline_code=None,
            charge_id=None,
        )

    monkeypatch.setattr(Payments, "payment_result", payment_result)
    query = "payment_intent=pi_abc&payment_intent_client_secret=pi_abc_secret_def"
    fragment = await client.get(f"/payment/status?{query}", headers=HTMX)
    body = await fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert f'data-outcome="{kind}"' in body and text in body
    if kind == "processing":
        # It polls the same status URL until the intent settles.
        assert f'hx-get="/payment/status?{query}"' in body.replace("&amp;", "&")


@pytest.mark.parametrize(
    "code",
    [
        *DECLINE_MESSAGES,
        "generic_decline",
        "lost_card",
        "stolen_card",
        "fraudulent",
        "do_not_honor",
        None,
    ],
)
async def test_each_decline_reads_as_its_own_kind_message_chosen_by_code(
    app: Quart, code: str | None
) -> None:
    async with app.app_context():
        rendered = await render_template("checkout/_decline.html", code=code)
    # Lost, stolen and fraudulent cards (and anything unknown) are never named to the shopper.
    assert html.unescape(rendered.strip()) == decline_message(code)


async def test_a_receipt_keeps_the_title_of_a_book_retired_since(
    app: Quart, client: Client, sandbox: SandboxServer
) -> None:
    paid = await press_pay(client, sandbox, "/checkout/working-in-public")
    intent_id = pushed_intent(paid)
    books = app.extensions["catalog"]
    async with books.database.transaction() as connection:
        assert await books.retire_in(connection, "working-in-public", True)
    books.forget()

    receipt = await client.get(
        f"/success?{result_query(intent_id, client_secret_of(sandbox, intent_id))}"
    )

    body = await receipt.get_data(as_text=True)
    assert receipt.status_code == 200 and 'data-outcome="succeeded"' in body
    assert "Working in Public" in body
