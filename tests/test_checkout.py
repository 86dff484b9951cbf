"""The checkout page, its summary fragment and the quantity form."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from quart import Quart, Response, render_template

from bookshop import create_app
from bookshop.config import Settings
from bookshop.orders import Ledger, Order
from bookshop.payments import Intent, IntentLine, Payments
from tests.fixtures.app import (
    BOOKS,
    DECLINE_MESSAGES,
    HTMX,
    SINGAPORE,
    Client,
    confirm_like_stripe_js,
    csrf_token,
    decline_message,
    deliver_to_singapore,
    delivered,
    intents_of_checkout,
    post,
    shown,
)
from tests.fixtures.sandbox import SandboxServer


async def test_checkout_page_shows_the_summary(client: Client) -> None:
    response = await client.get("/checkout/art-of-doing-science")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    assert "The Art of Doing Science and Engineering" in body
    assert "Richard Hamming" in body
    assert f'data-amount="{delivered(2300, 1)}"' in body


async def test_quantity_in_the_url_sets_the_total(client: Client) -> None:
    body = await (await client.get("/checkout/working-in-public?quantity=3")).get_data(as_text=True)
    assert 'data-amount="8400"' in body
    assert "84.00\xa0SGD" in body


async def test_htmx_quantity_change_returns_only_the_summary(client: Client) -> None:
    response = await post(
        client, "/checkout/working-in-public/quantity", form={"quantity": "2"}, headers=HTMX
    )
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert f'data-amount="{delivered(5600, 2)}"' in body
    assert response.headers["HX-Replace-Url"] == "/checkout/working-in-public?quantity=2"
    assert "HX-Request" in response.headers["Vary"]


async def test_plain_quantity_change_redirects_with_303(client: Client) -> None:
    response = await post(client, "/checkout/working-in-public/quantity", form={"quantity": "4"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/checkout/working-in-public?quantity=4"


@pytest.mark.parametrize(
    ("quantity", "status"),
    # Superscript two and Arabic-Indic one are digits to str.isdigit(); int() refuses the first
    # and reads the second.
    [
        ("0", 422),
        ("11", 422),
        ("abc", 400),
        ("-1", 400),
        ("2.5", 400),
        ("\u00b2", 400),
        ("\u0661", 400),
    ],
)
async def test_bad_quantities_get_a_readable_error(
    client: Client, quantity: str, status: int
) -> None:
    for headers in ({}, HTMX):
        page = await client.get(
            "/checkout/code", query_string={"quantity": quantity}, headers=headers
        )
        posted = await post(
            client, "/checkout/code/quantity", form={"quantity": quantity}, headers=headers
        )
        assert page.status_code == posted.status_code == status
        body = await posted.get_data(as_text=True)
        assert ("<html" in body) is (not headers)
        assert "quantity" in body.lower() or "copies" in body


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


async def test_unknown_book_is_a_styled_404(client: Client) -> None:
    response = await client.get("/checkout/no-such-book")
    body = await response.get_data(as_text=True)
    assert response.status_code == 404
    assert "We don&#39;t sell that book" in body
    assert "<html" in body


async def test_starters_checkout_url_redirects_permanently(client: Client) -> None:
    response = await client.get("/checkout?item=code")
    assert response.status_code == 301
    assert response.headers["Location"] == "/checkout/code"


async def test_starters_checkout_url_with_unknown_item_is_404(client: Client) -> None:
    assert (await client.get("/checkout?item=99")).status_code == 404


async def test_buy_link_in_the_grid_opens_the_checkout(client: Client) -> None:
    body = await (await client.get("/")).get_data(as_text=True)
    assert 'href="/checkout/art-of-doing-science"' in body


def client_secret_in(body: str) -> str:
    match = re.search(r'data-client-secret="([^"]+)"', body)
    assert match, "the page carries the client secret for the Payment Element"
    return match.group(1)


async def open_checkout(client: Client, url: str) -> tuple[str, str]:
    body = await (await client.get(url)).get_data(as_text=True)
    secret = client_secret_in(body)
    return secret.split("_secret_")[0], secret


async def test_reloading_the_checkout_ten_times_leaves_one_intent(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_ids = {(await open_checkout(client, "/checkout/code"))[0] for _ in range(10)}
    assert len(intent_ids) == 1
    intent = sandbox.client().v1.payment_intents.retrieve(intent_ids.pop())
    assert len(intents_of_checkout(sandbox, intent.metadata["checkout"])) == 1


async def test_page_carries_the_client_secret_and_nothing_else_secret(
    client: Client, settings: Settings
) -> None:
    body = await (await client.get("/checkout/code")).get_data(as_text=True)
    assert settings.stripe_secret_key not in body
    assert settings.stripe_publishable_key in body
    assert f'src="{settings.stripe_js_url}"' in body


@pytest.mark.parametrize("path", ["htmx", "plain", "url"])
async def test_intent_amount_equals_the_page_total_however_the_quantity_changes(
    client: Client, sandbox: SandboxServer, path: str
) -> None:
    intent_id, _ = await open_checkout(client, "/checkout/code")
    if path == "htmx":
        response = await post(
            client, "/checkout/code/quantity", form={"quantity": "3"}, headers=HTMX
        )
        assert response.headers["HX-Trigger"] == "checkout:amount-changed"
        body = await response.get_data(as_text=True)
    elif path == "plain":
        response = await post(client, "/checkout/code/quantity", form={"quantity": "3"})
        body = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    else:
        body = await (await client.get("/checkout/code?quantity=3")).get_data(as_text=True)
    total = int(re.search(r'data-amount="(\d+)"', body).group(1))  # type: ignore[union-attr]
    assert total == 3 * 2900
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert intent.amount == total
    assert intent.metadata["lines_1"] == "code:3:2900"


async def test_checkout_page_says_unavailable_when_stripe_is_down(
    client: Client, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(fail_rate=1.0)
    response = await client.get("/checkout/code")
    body = await response.get_data(as_text=True)
    assert response.status_code == 503
    assert "couldn't reach our payment provider" in body
    assert "You have not been charged" in body
    assert "data-client-secret" not in body


async def test_prepare_payment_sets_the_receipt_email(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, _ = await open_checkout(client, "/checkout/code")
    response = await post(
        client, "/checkout/code/pay", form=shown("code", 1, email="a@example.com"), headers=HTMX
    )
    assert response.status_code == 204
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).receipt_email == "a@example.com"


async def test_prepare_payment_charges_what_this_page_shows(
    client: Client, sandbox: SandboxServer
) -> None:
    # Another tab changed the quantity to 5; the page where Pay was pressed shows 2.
    intent_id, _ = await open_checkout(client, "/checkout/code?quantity=5")
    await post(client, "/checkout/code/pay", form=shown("code", 2, email="a@example.com"))
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).amount == delivered(5800, 2)


@pytest.fixture
async def shop(settings: Settings, database_url: str) -> AsyncIterator[Quart]:
    """The shop on this test's database: SQLite, then PostgreSQL."""
    app = create_app(replace(settings, database_url=database_url))
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


def quantities(order: Order) -> list[int]:
    """How many of each book an order's lines hold."""
    return [line.quantity for line in order.lines]


async def test_two_tabs_the_ledger_ends_with_what_stripe_charged(
    shop: Quart, sandbox: SandboxServer
) -> None:
    client = await deliver_to_singapore(shop.test_client())
    ledger: Ledger = shop.extensions["ledger"]
    # Tab 1 opens the checkout at 2 copies; tab 2 (same browser) changes it to 5.
    intent_id, secret = await open_checkout(client, "/checkout/code?quantity=2")
    await client.get("/checkout/code?quantity=5")
    order = await ledger.get(intent_id)
    assert order is not None and (quantities(order), order.amount) == ([5], delivered(14500, 5))

    # Pay is pressed in tab 1, which shows 2: the pay step puts the intent back to 2 copies and
    # the ledger hears of it at once, with the receipt address.
    prepared = await post(
        client, "/checkout/code/pay", shown("code", 2, email="two@example.com"), HTMX
    )
    assert prepared.status_code == 204
    order = await ledger.get(intent_id)
    assert order is not None
    assert (order.status, quantities(order), order.amount, order.email) == (
        "open",
        [2],
        delivered(5800, 2),
        "two@example.com",
    )

    assert confirm_like_stripe_js(sandbox, secret, "4242424242424242").status_code == 200
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    assert (await client.get(f"/payment/status?{query}", headers=HTMX)).status_code == 200

    charged = sandbox.client().v1.payment_intents.retrieve(intent_id)
    order = await ledger.get(intent_id)
    assert order is not None
    assert (order.status, quantities(order), order.amount) == ("paid", [2], charged.amount)
    assert charged.amount == delivered(5800, 2) and charged.metadata["lines_1"] == "code:2:2900"


async def test_an_email_stripe_refuses_is_a_422_about_the_email(
    shop: Quart, sandbox: SandboxServer
) -> None:
    client = await deliver_to_singapore(shop.test_client())
    # Our own check lets it through; Stripe refuses two dots in a row.
    intent_id, _ = await open_checkout(client, "/checkout/code")
    for headers in (HTMX, None):
        response = await post(
            client, "/checkout/code/pay", shown("code", 1, email="ada..reader@example.com"), headers
        )
        body = await response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Enter a valid email address" in body
        assert "can't be changed" not in body
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).receipt_email is None
    order = await shop.extensions["ledger"].get(intent_id)
    assert order is not None and order.email is None


@pytest.mark.parametrize(
    "email", ["", "not-an-email", "a@b", "a @example.com", "x" * 250 + "@e.com"]
)
async def test_prepare_payment_refuses_a_bad_email(client: Client, email: str) -> None:
    await open_checkout(client, "/checkout/code")
    response = await post(
        client, "/checkout/code/pay", form=shown("code", 1, email=email), headers=HTMX
    )
    assert response.status_code == 422
    assert "email" in (await response.get_data(as_text=True)).lower()


async def test_prepare_payment_without_a_checkout_is_a_conflict(client: Client) -> None:
    response = await post(
        client, "/checkout/code/pay", form=shown("code", 1, email="a@example.com")
    )
    assert response.status_code == 409


async def test_paid_result_shows_the_receipt_on_both_paths(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/working-in-public?quantity=2")
    confirm_like_stripe_js(sandbox, secret, "4242424242424242", "reader@example.com")
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"

    fragment = await client.get(f"/payment/status?{query}", headers=HTMX)
    body = await fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in body
    charge = sandbox.client().v1.payment_intents.retrieve(intent_id).latest_charge
    assert charge and str(charge) in body
    assert "56.00\xa0SGD" in body and "Visa ending 4242" in body
    assert "reader@example.com" in body
    assert fragment.headers["HX-Push-Url"] == f"/success?{query}"
    assert fragment.headers["HX-Retarget"] == "#payment"

    for url in (f"/payment/status?{query}", f"/success?{query}"):
        page = await client.get(url)
        page_body = await page.get_data(as_text=True)
        assert page.status_code == 200
        assert "<html" in page_body and str(charge) in page_body
        assert "Thank you for your order" in page_body


async def test_declined_result_is_a_fragment_with_the_reason(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    confirm_like_stripe_js(sandbox, secret, "4000000000009995")
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    fragment = await client.get(f"/payment/status?{query}", headers=HTMX)
    body = await fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert 'data-outcome="declined"' in body and "insufficient funds" in body
    assert "HX-Push-Url" not in fragment.headers
    page = await (await client.get(f"/payment/status?{query}")).get_data(as_text=True)
    assert "<html" in page and "insufficient funds" in page


async def test_result_is_503_with_a_retry_when_stripe_is_down(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    sandbox.set_faults(fail_rate=1.0, fail_mode="drop")
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    for headers in ({}, HTMX):
        response = await client.get(f"/payment/status?{query}", headers=headers)
        body = await response.get_data(as_text=True)
        assert response.status_code == 503
        assert "couldn't reach our payment provider. You have not been charged." in body
        assert "Check again" in body


async def test_result_for_a_wrong_secret_or_unknown_intent_is_404(client: Client) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    for query in (
        f"payment_intent={intent_id}&payment_intent_client_secret={intent_id}_secret_forged",
        "payment_intent=pi_nope&payment_intent_client_secret=pi_nope_secret_x",
        f"payment_intent=pi_nope&payment_intent_client_secret={secret}",
    ):
        response = await client.get(f"/payment/status?{query}")
        assert response.status_code == 404
        assert "couldn&#39;t find that payment" in await response.get_data(as_text=True)


async def test_result_without_its_references_is_400(client: Client) -> None:
    assert (await client.get("/payment/status")).status_code == 400
    assert (await client.get("/success?payment_intent=pi_x")).status_code == 400


async def test_redirect_status_from_the_browser_is_ignored(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    body = await (
        await client.get(
            f"/success?payment_intent={intent_id}&payment_intent_client_secret={secret}"
            "&redirect_status=succeeded"
        )
    ).get_data(as_text=True)
    assert "Payment received" not in body
    assert 'data-outcome="open"' in body


async def test_event_loop_stays_free_while_checkouts_wait_on_stripe(
    client: Client, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(latency_ms=1000)
    checkouts = [asyncio.ensure_future(client.get("/checkout/code")) for _ in range(50)]
    await asyncio.sleep(0.2)  # every checkout is now waiting on the sandbox
    health = await client.get("/healthz")
    assert health.status_code == 200
    # /healthz answered while all 50 checkouts were still waiting on Stripe.
    assert not any(task.done() for task in checkouts)
    responses = await asyncio.gather(*checkouts)
    assert all(response.status_code == 200 for response in responses)


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


async def fill_cart(client: Client, *books: tuple[str, int]) -> None:
    """Put books in the session's cart, as the "Add to cart" forms do."""
    for book_id, quantity in books:
        response = await post(client, "/cart/add", {"book_id": book_id, "quantity": str(quantity)})
        assert response.status_code == 303


def shown_on(body: str, **form: str) -> dict[str, str]:
    """The pay step's form for what a checkout page (or summary) shows."""
    match = re.search(
        r'class="total" data-amount="(\d+)" data-lines="([^"]*)" data-destination="([^"]*)"', body
    )
    assert match, "the summary carries what it shows"
    shown = {"total": match.group(1), "lines": html.unescape(match.group(2))}
    return {**shown, "destination": match.group(3), **form}


async def test_the_cart_checks_out_as_one_intent_updated_not_replaced_when_the_cart_changes(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    page = await client.get("/checkout")
    body = await page.get_data(as_text=True)
    assert page.status_code == 200
    secret = client_secret_in(body)
    intent_id = secret.split("_secret_")[0]
    assert re.findall(r'class="order-line[^"]*" data-book="([^"]+)"', body) == ["code", "hackers"]
    assert f'data-amount="{delivered(7300, 3)}"' in body
    assert 'href="/cart">Change your cart' in body
    assert 'id="quantity"' not in body  # quantities change on the cart page

    await fill_cart(client, ("mythical-man-month", 1))
    again = await (await client.get("/checkout")).get_data(as_text=True)

    assert client_secret_in(again) == secret
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert intent.amount == delivered(7300 + 3200, 4)
    assert intent.metadata["lines_1"] == "code:1:2900,hackers:2:2200,mythical-man-month:1:3200"


async def test_an_empty_cart_has_no_checkout_only_the_cart_page(client: Client) -> None:
    response = await client.get("/checkout")
    assert (response.status_code, response.headers["Location"]) == (303, "/cart")


async def test_two_tabs_the_intent_is_charged_the_total_the_paying_page_shows(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    first_tab = await (await client.get("/checkout")).get_data(as_text=True)
    intent_id = client_secret_in(first_tab).split("_secret_")[0]
    # The second tab adds a book and opens the checkout (which prices the intent for it).
    await fill_cart(client, ("hackers", 1))
    await client.get("/checkout")

    stale = await post(client, "/checkout/pay", shown_on(first_tab, email="a@example.com"), HTMX)
    fresh_summary = await stale.get_data(as_text=True)

    assert stale.status_code == 409
    assert stale.headers["HX-Retarget"] == "#checkout-summary"
    assert "Your order changed since this page was shown" in fresh_summary
    assert f'data-amount="{delivered(5100, 2)}"' in fresh_summary
    paid = await post(client, "/checkout/pay", shown_on(fresh_summary, email="a@example.com"), HTMX)
    assert paid.status_code == 204
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.amount, intent.receipt_email) == (delivered(5100, 2), "a@example.com")


async def test_a_price_changed_meanwhile_is_shown_and_asked_again(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 2))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    # The shopkeeper raises the price meanwhile.
    await app.extensions["catalog"].write([replace(BOOKS["code"], price=2800)])

    refused = await post(client, "/checkout/pay", shown_on(page, email="a@example.com"), HTMX)
    summary = await refused.get_data(as_text=True)

    assert refused.status_code == 409
    assert f'data-amount="{delivered(5600, 2)}"' in summary and "56.00\xa0SGD" in summary
    intent_id = client_secret_in(page).split("_secret_")[0]
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).amount == delivered(5800, 2)


async def pay_the_cart(client: Client, sandbox: SandboxServer, card: str) -> tuple[str, str]:
    """Go to the cart's checkout, press Pay with `card` as the browser does; (intent, secret)."""
    page = await (await client.get("/checkout")).get_data(as_text=True)
    secret = client_secret_in(page)
    prepared = await post(client, "/checkout/pay", shown_on(page, email="cart@example.com"), HTMX)
    assert prepared.status_code == 204
    confirm_like_stripe_js(sandbox, secret, card)
    return secret.split("_secret_")[0], secret


async def test_after_payment_the_cart_is_empty_and_the_summary_read_only(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    intent_id, secret = await pay_the_cart(client, sandbox, "4242424242424242")
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"

    result = await client.get(f"/payment/status?{query}", headers=HTMX)
    body = await result.get_data(as_text=True)

    assert result.status_code == 200
    receipt, _, out_of_band = body.partition('id="checkout-summary" hx-swap-oob="innerHTML"')
    assert re.findall(r'data-book="([^"]+)"', receipt) == ["code", "hackers"]
    assert "73.00\xa0SGD" in receipt
    assert out_of_band and "<select" not in out_of_band and "Change your cart" not in out_of_band
    assert 'id="cart-count" hx-swap-oob="innerHTML">0<' in body
    assert "Your cart is empty." in await (await client.get("/cart")).get_data(as_text=True)
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None and order.status == "paid" and order.amount == delivered(7300, 3)
    assert [(line.book_id, line.quantity, line.unit_price) for line in order.lines] == [
        ("code", 1, 2900),
        ("hackers", 2, 2200),
    ]
    assert order.lines[1].title == "Hackers: Heroes of the Computer Revolution"


async def test_a_decline_keeps_the_cart(client: Client, sandbox: SandboxServer) -> None:
    await fill_cart(client, ("code", 1))
    intent_id, secret = await pay_the_cart(client, sandbox, "4000000000009995")
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    result = await (await client.get(f"/payment/status?{query}", headers=HTMX)).get_data(
        as_text=True
    )
    assert 'data-outcome="declined"' in result
    assert 'data-book="code"' in await (await client.get("/cart")).get_data(as_text=True)


async def test_a_paid_cart_whose_result_was_never_seen_shows_it_instead_of_a_new_payment(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    intent_id, _ = await pay_the_cart(client, sandbox, "4242424242424242")
    # The tab closed before the result; the shopper comes back to the checkout.
    again = await client.get("/checkout")
    assert again.status_code == 303
    assert again.headers["Location"].startswith(f"/success?payment_intent={intent_id}&")
    assert "Your cart is empty." in await (await client.get("/cart")).get_data(as_text=True)


async def test_while_3d_secure_is_under_way_another_tab_cannot_change_what_it_charges(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    intent_id, _ = await pay_the_cart(client, sandbox, "4000002500003155")  # 3D Secure asked
    await fill_cart(client, ("hackers", 3))  # meanwhile, in another tab

    other_tab = await (await client.get("/checkout")).get_data(as_text=True)

    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount) == ("requires_action", delivered(2900, 1))
    # The other tab shows what is being paid, with nothing to change.
    assert re.findall(r'class="order-line[^"]*" data-book="([^"]+)"', other_tab) == ["code"]
    assert "Change your cart" not in other_tab and "Change the address" not in other_tab


async def test_books_added_while_paying_stay_in_the_cart_after_the_payment(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 2))
    intent_id, secret = await pay_the_cart(client, sandbox, "4242424242424242")
    await fill_cart(client, ("hackers", 1), ("code", 1))  # in another tab, before the result

    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    assert (await client.get(f"/success?{query}")).status_code == 200

    async with client.session_transaction() as session:
        assert session["cart"] == [["code", 1], ["hackers", 1]]
        assert session["address"]["postal_code"] == "018937"  # still something to deliver
    again = await (await client.get("/checkout")).get_data(as_text=True)
    assert client_secret_in(again).split("_secret_")[0] != intent_id


async def test_a_book_bought_now_leaves_the_carts_address_while_the_cart_holds_books(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("hackers", 1))
    intent_id, secret = await open_checkout(client, "/checkout/code")
    assert confirm_like_stripe_js(sandbox, secret, "4242424242424242").status_code == 200
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    assert (await client.get(f"/success?{query}")).status_code == 200

    async with client.session_transaction() as session:
        assert session["address"]["postal_code"] == "018937"
        assert session["cart"] == [["hackers", 1]]


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

    response = await post(client, "/checkout/pay", shown_on(page, email="a@example.com"), headers)

    assert sent_to(response, headers) == lands


def sent_to(response: Response, headers: dict[str, str] | None) -> str:
    """Where a response sends the shopper: checkout.js follows HX-Redirect (on a 409), a plain
    form a 303."""
    if headers:
        assert response.status_code == 409
        return response.headers["HX-Redirect"]
    assert response.status_code == 303
    return response.headers["Location"]


async def test_a_page_showing_another_address_in_the_same_zone_is_asked_again(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    await move_to(client, line1="99 Other Road")  # another tab; the price stays the same

    stale = await post(client, "/checkout/pay", shown_on(page, email="a@example.com"), HTMX)

    assert stale.status_code == 409
    assert "99 Other Road" in await stale.get_data(as_text=True)


async def test_stripe_returns_the_shopper_to_the_public_url_not_the_requests_host(
    settings: Settings, sandbox: SandboxServer
) -> None:
    # Behind a TLS proxy the request says http://127.0.0.1:5000; Stripe must send shoppers back
    # to the address they know.
    shop = replace(settings, public_url="https://books.example")
    async with create_app(shop).test_app() as app:
        client = await deliver_to_singapore(app.test_client())
        await fill_cart(client, ("code", 1))
        page = await client.get("/checkout", headers={"Host": "127.0.0.1:5000"})
        body = await page.get_data(as_text=True)
    assert 'data-return-url="https://books.example/success"' in body


async def move_to(client: Client, **address: str) -> None:
    """The shopper gives another address on the address step."""
    form = {**SINGAPORE, **address, "next": "/checkout"}
    response = await post(client, "/checkout/address", form)
    assert response.status_code == 303, await response.get_data(as_text=True)


LONDON = {"city": "London", "postal_code": "N1 9GU", "country": "GB", "line2": ""}


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
    intent = sandbox.client().v1.payment_intents.retrieve(
        client_secret_in(body).split("_secret_")[0]
    )
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


async def test_changing_the_country_prices_the_same_intent_for_the_new_zone(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 1))
    before = await (await client.get("/checkout")).get_data(as_text=True)
    intent_id = client_secret_in(before).split("_secret_")[0]
    assert f'data-amount="{2900 + 2200 + 400}"' in before

    await move_to(client, **LONDON)
    after = await (await client.get("/checkout")).get_data(as_text=True)

    assert client_secret_in(after).split("_secret_")[0] == intent_id
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert intent.amount == 2900 + 2200 + 1800 + 500  # the rest of the world: 18 + 5 each further
    assert intent.shipping.address.country == "GB"  # type: ignore[union-attr]
    assert intent.shipping.address.postal_code == "N1 9GU"  # type: ignore[union-attr]


async def test_enough_books_ship_free(client: Client, sandbox: SandboxServer) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 1), ("mythical-man-month", 1))
    body = await (await client.get("/checkout")).get_data(as_text=True)
    assert re.search(r'class="col-5 text-end mb-1 shipping">Free<', body)
    assert 'data-amount="8300"' in body  # 83.00 SGD of books, over 60.00: no delivery charge


async def test_a_page_that_shows_the_old_address_gets_the_new_total_before_paying(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    await move_to(client, **LONDON)  # in another tab

    stale = await post(client, "/checkout/pay", shown_on(page, email="a@example.com"), HTMX)

    assert stale.status_code == 409
    assert 'data-amount="4700"' in await stale.get_data(as_text=True)  # 29 + 18 to London


@pytest.mark.parametrize("total", ["", "29.00", "\u00b2", "\u0661"])
async def test_a_pay_step_whose_total_is_not_a_whole_number_is_a_400(
    client: Client, sandbox: SandboxServer, total: str
) -> None:
    await fill_cart(client, ("code", 1))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    form = shown_on(page, email="a@example.com") | {"total": total}
    refused = await post(client, "/checkout/pay", form, HTMX)
    assert refused.status_code == 400
    assert "total" in await refused.get_data(as_text=True)


async def test_the_address_step_leads_only_to_a_quantity_it_can_read(client: Client) -> None:
    for quantity, leads_to in (("3", "/checkout/code?quantity=3"), ("²", "/checkout/code")):
        form = {**SINGAPORE, "next": f"/checkout/code?quantity={quantity}"}
        response = await post(client, "/checkout/address", form)
        assert (response.status_code, response.headers["Location"]) == (303, leads_to)


async def test_the_receipt_and_the_ledger_keep_the_address_and_the_delivery(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 2))
    intent_id, secret = await pay_the_cart(client, sandbox, "4242424242424242")
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    receipt = await (await client.get(f"/success?{query}")).get_data(as_text=True)
    assert re.search(r'receipt-subtotal">58.00\xa0SGD<', receipt)
    assert re.search(r'receipt-shipping">4.00\xa0SGD<', receipt)
    assert re.search(r'receipt-amount">62.00\xa0SGD<', receipt)
    assert "Delivering to" in receipt and "1 Straits View" in receipt
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None and (order.amount, order.shipping) == (6200, 400)
    assert order.address is not None and order.address.postal_code == "018937"
    # Paid: the address leaves the session with the cart.
    async with client.session_transaction() as session:
        assert "address" not in session and "cart" not in session


async def test_a_book_bought_now_takes_the_address_out_of_the_session_once_paid(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    assert confirm_like_stripe_js(sandbox, secret, "4242424242424242").status_code == 200
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    assert (await client.get(f"/success?{query}")).status_code == 200
    async with client.session_transaction() as session:
        assert "address" not in session


def quantity_sent(page: str) -> str:
    """The quantity checkout.js sends with the pay step: the page's `#quantity`, else "1"."""
    match = re.search(r'<input type="hidden" id="quantity" value="(\d+)">', page) or re.search(
        r'<option value="(\d+)" selected>', page
    )
    return match.group(1) if match else "1"


async def start_3d_secure(client: Client, sandbox: SandboxServer, url: str, copies: int) -> str:
    """Open a buy-now checkout of `copies`, press Pay and leave 3D Secure unfinished: the intent."""
    intent_id, secret = await open_checkout(client, url)
    prepared = await post(client, url.split("?")[0] + "/pay", shown("code", copies, email="a@b.co"))
    assert prepared.status_code == 204
    assert confirm_like_stripe_js(sandbox, secret, "4000002500003155").status_code == 200
    return intent_id


@pytest.mark.parametrize("headers", [HTMX, None])
async def test_a_buy_now_reloaded_during_3d_secure_pays_for_the_copies_it_shows(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    intent_id = await start_3d_secure(client, sandbox, "/checkout/code?quantity=3", 3)
    page = await (await client.get("/checkout/code?quantity=3")).get_data(as_text=True)
    assert "<select" not in page and quantity_sent(page) == "3"  # read-only, yet says how many

    form = shown_on(page, email="a@example.com", quantity=quantity_sent(page))
    again = await post(client, "/checkout/code/pay", form, headers)

    assert again.status_code == 204, await again.get_data(as_text=True)
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount, intent.metadata["lines_1"]) == (
        "requires_action",
        delivered(8700, 3),
        "code:3:2900",
    )


@pytest.mark.parametrize("headers", [HTMX, None])
async def test_while_3d_secure_is_under_way_a_stale_page_cannot_change_what_it_charges(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    intent_id = await start_3d_secure(client, sandbox, "/checkout/code?quantity=3", 3)

    # A tab opened earlier shows 5 copies: it gets what is being paid, read-only, as a reload would.
    stale = await post(client, "/checkout/code/pay", shown("code", 5, email="a@b.co"), headers)
    summary = await stale.get_data(as_text=True)

    assert stale.status_code == 409
    assert ("<html" in summary) is (headers is None)
    assert f'data-amount="{delivered(8700, 3)}"' in summary and "<select" not in summary
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).amount == delivered(8700, 3)


async def test_paying_again_during_3d_secure_pays_for_the_cart_confirmed_not_books_added_since(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    intent_id, _ = await pay_the_cart(client, sandbox, "4000002500003155")  # 3D Secure asked
    await fill_cart(client, ("hackers", 3))  # meanwhile, in another tab
    page = await (await client.get("/checkout")).get_data(as_text=True)

    again = await post(client, "/checkout/pay", shown_on(page, email="a@example.com"), HTMX)

    assert again.status_code == 204
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.amount, intent.metadata["lines_1"]) == (delivered(2900, 1), "code:1:2900")


async def test_a_book_bought_now_whose_result_was_never_seen_shows_it_once(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    assert confirm_like_stripe_js(sandbox, secret, "4242424242424242").status_code == 200

    # The tab closed before the result; the shopper comes back to the book's checkout.
    again = await client.get("/checkout/code")
    assert (again.status_code, again.headers["Cache-Control"]) == (303, "no-store")
    assert again.headers["Location"].startswith(f"/success?payment_intent={intent_id}&")
    receipt = await client.get(again.headers["Location"])
    assert "Thank you for your order" in await receipt.get_data(as_text=True)

    # Once: the next visit is a new order (which asks again where the books go).
    assert (await client.get("/checkout/code")).headers["Location"].startswith("/checkout/address")
    await deliver_to_singapore(client)
    assert (await open_checkout(client, "/checkout/code"))[0] != intent_id


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_a_quantity_change_on_a_book_paid_in_another_tab_leads_to_its_receipt(
    client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    assert confirm_like_stripe_js(sandbox, secret, "4242424242424242").status_code == 200

    changed = await post(client, "/checkout/code/quantity", {"quantity": "2"}, headers)
    if headers:  # htmx loads the receipt as a page
        assert changed.status_code == 204
        receipt_url = changed.headers["HX-Redirect"]
    else:  # the page, which sends a paid buy-now to its receipt
        assert changed.status_code == 303
        receipt_url = (await client.get(changed.headers["Location"])).headers["Location"]

    assert receipt_url.startswith(f"/success?payment_intent={intent_id}&")


async def test_a_book_bought_again_after_its_result_is_a_new_order(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await open_checkout(client, "/checkout/code")
    assert confirm_like_stripe_js(sandbox, secret, "4242424242424242").status_code == 200
    query = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    assert (await client.get(f"/success?{query}")).status_code == 200

    await deliver_to_singapore(client)
    assert (await open_checkout(client, "/checkout/code"))[0] != intent_id


@pytest.mark.parametrize("headers", [HTMX, None])
async def test_the_address_step_keeps_a_buy_now_order_under_a_root_path(
    new_client: Client, headers: dict[str, str] | None
) -> None:
    start = await new_client.get("/shop/checkout/code?quantity=2", root_path="/shop")
    assert (
        start.headers["Location"] == "/shop/checkout/address?next=/shop/checkout/code?quantity%3D2"
    )
    step = await new_client.get(start.headers["Location"], root_path="/shop")
    assert 'name="next" value="/shop/checkout/code?quantity=2"' in await step.get_data(as_text=True)

    token = await csrf_token(new_client)
    form = {**SINGAPORE, "next": "/shop/checkout/code?quantity=2"}
    if headers:
        headers = {**headers, "X-CSRF-Token": token}
    else:
        form["csrf_token"] = token
    saved = await new_client.post(
        "/shop/checkout/address", form=form, headers=headers, root_path="/shop"
    )

    target = saved.headers["HX-Redirect"] if headers else saved.headers["Location"]
    assert target == "/shop/checkout/code?quantity=2"


async def test_change_the_address_under_a_root_path_leads_back_to_the_book(client: Client) -> None:
    page = await client.get("/shop/checkout/code?quantity=2", root_path="/shop")
    link = re.search(r'href="([^"]+)">Change the address<', await page.get_data(as_text=True))
    assert link, "the summary links to the address step"
    step = await client.get(html.unescape(link.group(1)), root_path="/shop")
    assert 'name="next" value="/shop/checkout/code?quantity=2"' in await step.get_data(as_text=True)


async def test_htmx_quantity_change_without_an_address_loads_the_page_which_asks_for_it(
    new_client: Client,
) -> None:
    fragment = await post(new_client, "/checkout/code/quantity", {"quantity": "2"}, HTMX)
    assert (fragment.status_code, fragment.headers["HX-Redirect"]) == (
        204,
        "/checkout/code?quantity=2",
    )
    plain = await post(new_client, "/checkout/code/quantity", {"quantity": "2"})
    assert (plain.status_code, plain.headers["Location"]) == (303, "/checkout/code?quantity=2")
    page = await new_client.get("/checkout/code?quantity=2")
    assert page.headers["Location"].startswith("/checkout/address?next=")


async def test_a_quantity_change_while_stripe_is_down_is_a_503_on_both_paths(
    client: Client, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(fail_rate=1.0)
    fragment = await post(client, "/checkout/code/quantity", {"quantity": "2"}, HTMX)
    body = await fragment.get_data(as_text=True)
    assert fragment.status_code == 503 and "<html" not in body
    assert "couldn&#39;t reach our payment provider" in body
    assert f'data-amount="{delivered(5800, 2)}"' in body
    plain = await post(client, "/checkout/code/quantity", {"quantity": "2"})
    assert (await client.get(plain.headers["Location"])).status_code == 503


async def test_get_on_the_carts_pay_step_is_405_not_a_missing_book(client: Client) -> None:
    for headers in ({}, HTMX):
        response = await client.get("/checkout/pay", headers=headers)
        assert response.status_code == 405
        assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
        assert "sell that book" not in await response.get_data(as_text=True)
