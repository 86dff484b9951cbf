"""A payment's result, read on the server with the secret key: the receipt, a decline, where an
unsettled payment stands, or that Stripe can't be reached. `/payment/status` answers htmx with a
fragment and anyone else with a page; `/success` (where Stripe sends shoppers back) is the page."""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from quart import Quart, render_template

from bookshop.payments import Intent, IntentLine, Payments
from tests.checkout.steps import (
    approve_3d_secure,
    client_secret_of,
    pushed_intent,
    result_query,
    start_3d_secure,
)
from tests.fixtures.app import (
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


async def test_a_paid_result_shows_the_receipt_as_a_fragment_and_as_a_page_on_both_urls(
    client: Client, sandbox: SandboxServer
) -> None:
    paid = await press_pay(client, sandbox, "/checkout/working-in-public?quantity=2")
    intent_id = pushed_intent(paid)
    query = result_query(intent_id, client_secret_of(sandbox, intent_id))
    assert paid.headers["HX-Push-Url"] == f"/success?{query}"

    fragment = await client.get(f"/payment/status?{query}", headers=HTMX)
    body = await fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in body and 'data-outcome="succeeded"' in body
    charge = sandbox.client().v1.payment_intents.retrieve(intent_id).latest_charge
    assert charge and str(charge) in body
    assert "56.00\xa0SGD" in body  # the books
    assert f"{delivered(5600, 2) // 100}.00\xa0SGD" in body  # the amount charged
    assert "Visa ending 4242" in body and EMAIL in body
    assert fragment.headers["HX-Push-Url"] == f"/success?{query}"
    assert fragment.headers["HX-Retarget"] == "#payment"

    for url in (f"/payment/status?{query}", f"/success?{query}"):
        page = await client.get(url)
        page_body = await page.get_data(as_text=True)
        assert page.status_code == 200
        assert "<html" in page_body and str(charge) in page_body
        assert "Thank you for your order" in page_body


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


async def test_after_3d_secure_the_carts_result_empties_the_cart_and_the_summary_turns_read_only(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    intent_id, secret = await start_3d_secure(client, sandbox, "/checkout")
    assert 'data-book="code"' in await (await client.get("/cart")).get_data(as_text=True)
    approve_3d_secure(sandbox, intent_id, secret)

    result = await client.get(f"/payment/status?{result_query(intent_id, secret)}", headers=HTMX)
    body = await result.get_data(as_text=True)

    assert result.status_code == 200
    receipt, _, out_of_band = body.partition('id="checkout-summary" hx-swap-oob="innerHTML"')
    assert re.findall(r'data-book="([^"]+)"', receipt) == ["code", "hackers"]
    assert "73.00\xa0SGD" in receipt
    assert out_of_band and "<select" not in out_of_band and "Change your cart" not in out_of_band
    assert "Change the address" not in out_of_band
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
