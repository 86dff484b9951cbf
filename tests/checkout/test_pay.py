"""The pay step: the shop checks the page against the order, then creates and confirms the
PaymentIntent itself with the shopper's ConfirmationToken, and answers with the result."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import httpx
import pytest
from quart import Quart

from bookshop import create_app
from bookshop.address import Address
from bookshop.config import Settings
from bookshop.forms import INVALID_EMAIL
from bookshop.money import format_money
from bookshop.payments import Payments, PaymentsUnavailable
from tests.fixtures.app import (
    BOOKS,
    HTMX,
    SINGAPORE,
    Client,
    decline_message,
    deliver_to_singapore,
    delivered,
    intents_of_checkout,
    post,
)
from tests.fixtures.live import alerted, focused, said
from tests.fixtures.paying import (
    DECLINED,
    EMAIL,
    EXPIRED,
    INSUFFICIENT_FUNDS,
    THREE_D_SECURE,
    VISA,
    confirmation_token,
    fill_cart,
    press_pay,
    session_intent,
    shown_on,
)
from tests.fixtures.sandbox import SandboxServer


async def test_pay_creates_and_confirms_one_intent_for_exactly_what_the_page_shows(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    response = await press_pay(client, sandbox, "/checkout/working-in-public?quantity=2")
    body = await response.get_data(as_text=True)

    assert response.status_code == 200
    assert "Payment received" in body and "Visa ending 4242" in body
    assert response.headers["HX-Retarget"] == "#main"  # the confirmation replaces the checkout
    intent_id = re.search(r"payment_intent=(pi_[A-Za-z0-9]+)", response.headers["HX-Push-Url"])
    assert intent_id
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id[1])
    assert intent.status == "succeeded"
    assert intent.amount == delivered(5600, 2)
    assert intent.metadata["lines_1"] == "working-in-public:2:2800"
    assert intent.receipt_email == EMAIL
    assert intent.shipping and Address.from_stripe(intent.shipping.to_dict()) == Address(
        **SINGAPORE
    )
    order = await app.extensions["ledger"].get(intent.id)
    assert order is not None and order.status == "paid" and order.amount == intent.amount
    assert order.address is not None and order.address.postal_code == "018937"
    # Paid: the session starts afresh, so the next visit is a new order.
    assert await session_intent(client, "working-in-public") is None


async def test_a_paid_cart_empties_the_cart_and_the_ledger_keeps_each_line(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    response = await press_pay(client, sandbox, "/checkout")
    body = await response.get_data(as_text=True)

    assert response.status_code == 200
    # The confirmation alone: the order once, nothing left to change.
    assert re.findall(r'data-book="([^"]+)"', body) == ["code", "hackers"]
    assert "<select" not in body and 'id="checkout-summary"' not in body
    assert 'id="cart-count" hx-swap-oob="innerHTML">0<' in body
    assert "Your cart is empty." in await (await client.get("/cart")).get_data(as_text=True)
    intent_id = re.search(r"payment_intent=(pi_[A-Za-z0-9]+)", response.headers["HX-Push-Url"])
    assert intent_id
    order = await app.extensions["ledger"].get(intent_id[1])
    assert order is not None and order.status == "paid"
    assert [(line.book_id, line.quantity, line.title) for line in order.lines] == [
        ("code", 1, BOOKS["code"].title),
        ("hackers", 2, BOOKS["hackers"].title),
    ]


@pytest.mark.parametrize(
    ("payment_method", "code"),
    [
        (INSUFFICIENT_FUNDS, "insufficient_funds"),
        (DECLINED, "generic_decline"),
        (EXPIRED, "expired_card"),
    ],
)
async def test_a_decline_is_answered_with_its_message_then_another_card_pays_the_same_intent(
    client: Client, sandbox: SandboxServer, payment_method: str, code: str
) -> None:
    await fill_cart(client, ("code", 1))
    declined = await press_pay(client, sandbox, "/checkout", payment_method)
    body = await declined.get_data(as_text=True)

    assert declined.status_code == 402
    assert 'data-outcome="declined"' in body and decline_message(code) in body
    first = await session_intent(client)
    assert first is not None
    assert sandbox.client().v1.payment_intents.retrieve(first).status == "requires_payment_method"
    assert 'data-book="code"' in await (await client.get("/cart")).get_data(as_text=True)

    paid = await press_pay(client, sandbox, "/checkout", VISA)
    assert paid.status_code == 200
    assert f"payment_intent={first}&" in paid.headers["HX-Push-Url"]
    assert sandbox.client().v1.payment_intents.retrieve(first).status == "succeeded"
    paid_checkouts = intents_of_checkout(sandbox, (await checkout_id_of(sandbox, first)))
    assert [intent.id for intent in paid_checkouts] == [first]


async def checkout_id_of(sandbox: SandboxServer, intent_id: str) -> str:
    """The checkout an intent was made for (its metadata)."""
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    return str(intent.metadata["checkout"])


async def test_3d_secure_is_answered_with_what_the_page_needs_to_run_it(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    response = await press_pay(client, sandbox, "/checkout/code", THREE_D_SECURE)
    body = await response.get_data(as_text=True)

    assert response.status_code == 200
    found = re.search(r'data-client-secret="(pi_[A-Za-z0-9]+)_secret_[^"]+"', body)
    assert found and "data-next-action" in body
    intent_id = found[1]
    assert sandbox.client().v1.payment_intents.retrieve(intent_id).status == "requires_action"
    status_url = re.search(r'data-status-url="([^"]+)"', body)
    assert status_url
    secret = re.search(r'data-client-secret="([^"]+)"', body)
    assert secret
    # The shopper approves the bank's challenge in Stripe.js; the page then reads the result.
    approved = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent_id}",
        data={"client_secret": secret[1], "result": "approve"},
        timeout=10,
    )
    assert approved.status_code == 200
    result = await client.get(status_url[1].replace("&amp;", "&"), headers=HTMX)
    assert "Payment received" in await result.get_data(as_text=True)
    order = await app.extensions["ledger"].get(intent_id)
    assert order is not None and order.status == "paid"


async def test_a_token_that_would_ship_elsewhere_charges_nothing(
    client: Client, sandbox: SandboxServer
) -> None:
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    elsewhere = {
        "name": "\x1b[31mMallory\x1b[0m",
        "address": {"line1": "1 Other Street", "city": "Paris", "postal_code": "75001",
                    "country": "FR"},
    }  # fmt: skip
    form = shown_on(
        page,
        email=EMAIL,
        quantity="1",
        confirmation_token=confirmation_token(sandbox, VISA, shipping=elsewhere),
    )

    refused = await post(client, "/checkout/code/pay", form, HTMX)

    assert refused.status_code == 422
    assert "another address" in await refused.get_data(as_text=True)
    assert await session_intent(client, "code") is None  # no intent was even made


async def test_a_token_used_once_is_refused_the_second_time(
    client: Client, new_client: Client, sandbox: SandboxServer
) -> None:
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    token = confirmation_token(sandbox, VISA)
    form = shown_on(page, email=EMAIL, quantity="1", confirmation_token=token)
    assert (await post(client, "/checkout/code/pay", form, HTMX)).status_code == 200

    other = await deliver_to_singapore(new_client)
    page = await (await other.get("/checkout/code")).get_data(as_text=True)
    again = await post(
        other,
        "/checkout/code/pay",
        shown_on(page, email=EMAIL, quantity="1", confirmation_token=token),
        HTMX,
    )
    assert again.status_code == 422
    assert "Nothing was charged" in await again.get_data(as_text=True)


@pytest.mark.parametrize("token", ["", "pm_card_visa", "ctoken_" + "x" * 65, "ctoken_a b"])
async def test_a_pay_step_without_a_readable_token_is_a_400(
    client: Client, sandbox: SandboxServer, token: str
) -> None:
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    form = shown_on(page, email=EMAIL, quantity="1", confirmation_token=token)
    response = await post(client, "/checkout/code/pay", form, HTMX)
    assert response.status_code == 400


async def test_tab_b_changing_the_cart_cannot_change_what_tab_a_is_charged(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("mythical-man-month", 1))
    tab_a = await (await client.get("/checkout")).get_data(as_text=True)
    # Tab B adds ten books and opens the checkout: no intent is touched by that.
    await fill_cart(client, ("code", 10))
    await client.get("/checkout")

    stale = await press_pay(client, sandbox, "/checkout", page=tab_a)
    assert stale.status_code == 409
    assert stale.headers["HX-Retarget"] == "#checkout-summary"
    assert await session_intent(client) is None  # nothing was created, let alone charged

    # Tab A pays what it shows; B's checkout afterwards cannot reprice what A paid.
    await post(client, "/cart/code/remove", {})
    paid = await press_pay(client, sandbox, "/checkout", page=tab_a)
    assert paid.status_code == 200
    intent_id = re.search(r"payment_intent=(pi_[A-Za-z0-9]+)", paid.headers["HX-Push-Url"])
    assert intent_id
    await fill_cart(client, ("code", 10))
    await client.get("/checkout")
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id[1])
    assert intent.amount == delivered(3200, 1)


async def test_an_intent_of_another_checkout_in_the_session_is_never_touched(
    client: Client, new_client: Client, sandbox: SandboxServer
) -> None:
    # Another shopper's declined intent: its id is all a forger needs with a known secret key.
    other = await deliver_to_singapore(new_client)
    assert (await press_pay(other, sandbox, "/checkout/code", DECLINED)).status_code == 402
    theirs = await session_intent(other, "code")
    assert theirs is not None
    before = sandbox.client().v1.payment_intents.retrieve(theirs)
    async with client.session_transaction() as session:
        session["checkouts"] = {"hackers": {"id": "mine", "intent": theirs}}

    paid = await press_pay(client, sandbox, "/checkout/hackers?quantity=3")

    assert paid.status_code == 200
    assert f"payment_intent={theirs}&" not in paid.headers["HX-Push-Url"]
    after = sandbox.client().v1.payment_intents.retrieve(theirs)
    assert (after.amount, after.status, after.metadata) == (
        before.amount,
        before.status,
        before.metadata,
    )


async def test_a_checkout_page_view_makes_no_stripe_request(
    client: Client, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bookshop.payments.transport import CurlClient

    sent: list[str] = []
    request = CurlClient.request

    def counted(self: CurlClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"{method} {url}")
        return request(self, method, url, *args, **kwargs)

    monkeypatch.setattr(CurlClient, "request", counted)
    await fill_cart(client, ("code", 1))
    for url in ("/checkout", "/checkout", "/checkout/hackers", "/checkout/hackers?quantity=3"):
        assert (await client.get(url)).status_code == 200
    changed = await post(client, "/checkout/hackers/quantity", {"quantity": "2"}, HTMX)
    assert changed.status_code == 200
    assert sent == []
    # Pressing Pay is what calls Stripe.
    assert (await press_pay(client, sandbox, "/checkout")).status_code == 200
    assert sent


async def test_many_checkout_views_from_one_address_do_not_stop_a_shopper_paying(
    settings: Settings, sandbox: SandboxServer
) -> None:
    shop = dataclasses.replace(
        settings, rate_limits=True, rate_limit_pay="2/minute", rate_limit_pay_all="3/minute"
    )
    async with create_app(shop).test_app() as app:
        client = await deliver_to_singapore(app.test_client())
        await fill_cart(client, ("code", 1))
        for _ in range(40):
            assert (await client.get("/checkout")).status_code == 200
        assert (await press_pay(client, sandbox, "/checkout", DECLINED)).status_code == 402
        assert (await press_pay(client, sandbox, "/checkout", DECLINED)).status_code == 402
        # The pay step itself is limited: a card tester's third try in a minute waits.
        limited = await press_pay(client, sandbox, "/checkout", VISA)
        assert limited.status_code == 429 and "Retry-After" in limited.headers


async def test_an_email_stripe_refuses_is_a_422_about_the_email(
    client: Client, sandbox: SandboxServer
) -> None:
    # Our own check lets it through; Stripe refuses two dots in a row.
    response = await press_pay(client, sandbox, "/checkout/code", email="ada..reader@example.com")
    assert response.status_code == 422
    assert "Enter a valid email address" in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    "email", ["", "not-an-email", "a@b", "a @example.com", "x" * 250 + "@e.com"]
)
async def test_a_bad_email_is_a_422_and_calls_no_stripe(
    client: Client, sandbox: SandboxServer, email: str
) -> None:
    response = await press_pay(client, sandbox, "/checkout/code", email=email)
    assert response.status_code == 422
    assert await session_intent(client, "code") is None


async def test_the_pay_step_when_stripe_is_down_says_so_and_charges_nothing(
    client: Client, sandbox: SandboxServer
) -> None:
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    token = confirmation_token(sandbox)
    sandbox.set_faults(fail_rate=1.0, fail_mode="drop")
    try:
        form = shown_on(page, email=EMAIL, quantity="1", confirmation_token=token)
        response = await post(client, "/checkout/code/pay", form, HTMX)
    finally:
        sandbox.set_faults()
    assert response.status_code == 503
    assert "You have not been charged" in await response.get_data(as_text=True)


async def test_a_price_changed_meanwhile_is_shown_and_asked_again(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    await fill_cart(client, ("code", 2))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    await app.extensions["catalog"].write([dataclasses.replace(BOOKS["code"], price=2800)])

    refused = await press_pay(client, sandbox, "/checkout", page=page)
    summary = await refused.get_data(as_text=True)

    assert refused.status_code == 409
    assert f'data-amount="{delivered(5600, 2)}"' in summary and "56.00\xa0SGD" in summary
    assert (await press_pay(client, sandbox, "/checkout", page=summary)).status_code == 200


async def test_paying_again_during_3d_secure_pays_for_what_was_confirmed_not_books_added_since(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    asked = await press_pay(client, sandbox, "/checkout", THREE_D_SECURE)
    assert "data-next-action" in await asked.get_data(as_text=True)
    await fill_cart(client, ("hackers", 3))  # meanwhile, in another tab

    page = await (await client.get("/checkout")).get_data(as_text=True)
    again = await press_pay(client, sandbox, "/checkout", page=page)
    summary = await again.get_data(as_text=True)

    # The page showed the cart with the new books; the intent pays for what was confirmed.
    assert again.status_code == 409
    assert re.findall(r'class="order-line[^"]*" data-book="([^"]+)"', summary) == ["code"]
    paid = await press_pay(client, sandbox, "/checkout", page=summary)
    assert paid.status_code == 200
    assert 'data-book="hackers"' in await (await client.get("/cart")).get_data(as_text=True)


async def test_get_on_the_carts_pay_step_is_405_not_a_missing_book(client: Client) -> None:
    response = await client.get("/checkout/pay")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


async def test_a_pay_whose_answer_was_lost_is_found_not_charged_again(
    client: Client, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    token = confirmation_token(sandbox, VISA)

    async def answer_lost(*args: Any, **kwargs: Any) -> Any:
        raise PaymentsUnavailable

    with monkeypatch.context() as patched:
        # The create-and-confirm call's answer never comes back (the token was read fine).
        patched.setattr(Payments, "pay", answer_lost)
        form = shown_on(page, email=EMAIL, quantity="1", confirmation_token=token)
        unanswered = await post(client, "/checkout/code/pay", form, HTMX)
    assert unanswered.status_code == 503
    async with client.session_transaction() as session:
        saved = session["checkouts"]["code"]
    assert saved["intent"] is None and isinstance(saved["unanswered"], int)
    # As if Stripe had made and charged the intent though its answer never came back (a
    # timeout just as it answered): an intent of this checkout, paid.
    charged = sandbox.client().v1.payment_intents.create(
        params={
            "amount": delivered(2900, 1),
            "currency": "sgd",
            "metadata": {"checkout": saved["id"], "lines_1": "code:1:2900", "shipping": "300"},
            "confirm": True,
            "confirmation_token": token,
            "return_url": "http://127.0.0.1/success",
        }
    )
    assert charged.status == "succeeded"

    again = await press_pay(client, sandbox, "/checkout/code", page=page)

    # The shopper is shown the payment already made; nothing is charged twice.
    assert again.status_code == 409
    assert again.headers["HX-Redirect"].startswith(f"/success?payment_intent={charged.id}&")
    assert [intent.id for intent in intents_of_checkout(sandbox, saved["id"])] == [charged.id]


async def test_a_paid_checkout_says_so_in_its_title_heading_and_status_and_focuses_its_number(
    client: Client, sandbox: SandboxServer
) -> None:
    body = await (await press_pay(client, sandbox, "/checkout/code", VISA)).get_data(as_text=True)

    # htmx sets the document's title from the fragment's; the fragment replaces the page's main
    # content, its h1 first.
    assert "<title>Thank you \N{EN DASH} Bookshop</title>" in body
    assert (
        body.split("</title>", 1)[1]
        .strip()
        .startswith('<h1 id="page-heading" class="h3 mb-4">Thank you for your order</h1>')
    )
    assert said(body) == f"Payment received: {format_money(delivered(2900, 1), 'sgd')}."
    # The focus goes to what to note down: the order's number.
    (tag,) = focused(body)
    assert tag.startswith('<h2 id="receipt-heading"') and 'tabindex="-1"' in tag
    assert re.search(r'id="receipt-heading"[^>]*>Order <span class="order-number">BK-', body)


async def test_a_decline_is_said_in_the_alert_region_and_nothing_moves_the_focus_off_pay(
    client: Client, sandbox: SandboxServer
) -> None:
    response = await press_pay(client, sandbox, "/checkout/code", INSUFFICIENT_FUNDS)
    body = await response.get_data(as_text=True)
    assert response.status_code == 402
    assert alerted(body) == decline_message("insufficient_funds")
    assert said(body) is None and focused(body) == []
    assert 'role="alert"' not in body  # said once, by the page's region


async def test_3d_secure_says_the_bank_may_ask(client: Client, sandbox: SandboxServer) -> None:
    response = await press_pay(client, sandbox, "/checkout/code", THREE_D_SECURE)
    assert said(await response.get_data(as_text=True)) == (
        "Your bank may ask you to confirm the payment."
    )


async def test_the_pay_steps_refusals_are_said_in_the_alert_region(
    client: Client, sandbox: SandboxServer, app: Quart
) -> None:
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    refused = await press_pay(client, sandbox, "/checkout/code", page=page, email="not an email")
    assert refused.status_code == 422
    assert alerted(await refused.get_data(as_text=True)) == f"We can't do that. {INVALID_EMAIL}"

    await app.extensions["catalog"].write([dataclasses.replace(BOOKS["code"], price=2800)])
    changed = await press_pay(client, sandbox, "/checkout/code", page=page)
    assert changed.status_code == 409
    assert (alerted(await changed.get_data(as_text=True)) or "").startswith("Your order changed")

    token = confirmation_token(sandbox)
    sandbox.set_faults(fail_rate=1.0, fail_mode="drop")
    try:
        fresh = await (await client.get("/checkout/code")).get_data(as_text=True)
        form = shown_on(fresh, email=EMAIL, quantity="1", confirmation_token=token)
        down = await post(client, "/checkout/code/pay", form, HTMX)
    finally:
        sandbox.set_faults()
    assert down.status_code == 503
    assert alerted(await down.get_data(as_text=True)) == (
        "We couldn't reach our payment provider. You have not been charged."
    )
