"""The checkout pages: the order's summary and the payment form, for the cart or a book bought
now, and the quantity form. A page view asks nothing of Stripe and makes no PaymentIntent; the
one exception is a paid checkout whose result was never seen, which the page shows once."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest
from quart import Quart

from bookshop import create_app
from bookshop.config import Settings
from bookshop.money import format_money
from bookshop.stock import Stock
from tests.checkout.steps import books_in, paid_but_never_seen, pushed_intent, start_3d_secure
from tests.fixtures.app import (
    HTMX,
    SINGAPORE,
    Client,
    csrf_token,
    deliver_to_singapore,
    delivered,
    post,
)
from tests.fixtures.live import alerted, focused, said
from tests.fixtures.paying import DECLINED, fill_cart, press_pay, session_intent, shown_on
from tests.fixtures.sandbox import SandboxServer

# --- The summary ------------------------------------------------------------------------------


async def test_a_books_checkout_page_shows_its_title_author_and_delivered_total(
    client: Client,
) -> None:
    response = await client.get("/checkout/art-of-doing-science")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    assert "The Art of Doing Science and Engineering" in body
    assert "Richard Hamming" in body
    assert f'class="total" data-amount="{delivered(2300, 1)}"' in body


async def test_the_quantity_in_the_url_sets_the_selected_quantity_and_the_total(
    client: Client,
) -> None:
    body = await (await client.get("/checkout/working-in-public?quantity=3")).get_data(as_text=True)
    assert '<option value="3" selected>' in body
    assert 'class="total" data-amount="8400"' in body  # 84.00 SGD of books: delivered free
    assert "84.00\xa0SGD" in body


async def test_an_htmx_quantity_change_answers_the_summary_and_tells_the_payment_element(
    client: Client,
) -> None:
    response = await post(
        client, "/checkout/working-in-public/quantity", form={"quantity": "2"}, headers=HTMX
    )
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert f'class="total" data-amount="{delivered(5600, 2)}"' in body
    assert response.headers["HX-Replace-Url"] == "/checkout/working-in-public?quantity=2"
    assert response.headers["HX-Trigger"] == "checkout:amount-changed"
    assert "HX-Request" in response.headers["Vary"]


async def test_a_plain_quantity_change_is_a_303_to_the_page_at_that_quantity(
    client: Client,
) -> None:
    response = await post(client, "/checkout/working-in-public/quantity", form={"quantity": "4"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/checkout/working-in-public?quantity=4"
    page = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    assert '<option value="4" selected>' in page


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
async def test_a_bad_quantity_in_the_url_or_the_form_gets_a_readable_error_on_both_paths(
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


async def test_a_book_the_shop_does_not_sell_is_a_styled_404_on_both_paths(client: Client) -> None:
    for headers in ({}, HTMX):
        response = await client.get("/checkout/no-such-book", headers=headers)
        body = await response.get_data(as_text=True)
        assert response.status_code == 404
        assert "We don&#39;t sell that book" in body
        assert ("<html" in body) is (not headers)


async def test_the_starters_checkout_url_redirects_permanently_to_the_books_checkout(
    client: Client,
) -> None:
    response = await client.get("/checkout?item=code")
    assert response.status_code == 301
    assert response.headers["Location"] == "/checkout/code"


async def test_the_starters_checkout_url_for_a_book_not_sold_is_a_404(client: Client) -> None:
    assert (await client.get("/checkout?item=99")).status_code == 404


async def test_the_grid_links_each_book_to_buying_it_now(client: Client) -> None:
    body = await (await client.get("/")).get_data(as_text=True)
    assert 'href="/checkout/art-of-doing-science"' in body


async def test_an_empty_cart_has_no_checkout_only_the_cart_page(client: Client) -> None:
    response = await client.get("/checkout")
    assert (response.status_code, response.headers["Location"]) == (303, "/cart")


async def test_the_carts_checkout_lists_its_lines_and_sends_changes_to_the_cart(
    client: Client,
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 2))
    page = await client.get("/checkout")
    body = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert books_in(body) == ["code", "hackers"]
    assert f'class="total" data-amount="{delivered(7300, 3)}"' in body
    assert 'href="/cart">Change your cart' in body
    assert 'id="quantity"' not in body  # quantities change on the cart page


async def test_an_htmx_quantity_change_without_an_address_loads_the_page_which_asks_for_it(
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


async def test_an_htmx_get_on_the_carts_pay_step_is_a_405_too_not_a_missing_book(
    client: Client,
) -> None:
    # The plain GET is test_pay.py's; htmx must not get the book page's 404 either.
    response = await client.get("/checkout/pay", headers=HTMX)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert "sell that book" not in await response.get_data(as_text=True)


# --- No PaymentIntent, no client secret -------------------------------------------------------


def newest_intent(sandbox: SandboxServer) -> str | None:
    """The newest PaymentIntent the sandbox holds (anyone's)."""
    page = sandbox.client().v1.payment_intents.list(params={"limit": 1})
    return page.data[0].id if page.data else None


def assert_no_client_secret(body: str, settings: Settings) -> None:
    """A page or summary carries no client secret and no secret key."""
    assert "data-client-secret" not in body
    assert "_secret_" not in body
    assert settings.stripe_secret_key not in body


async def test_a_checkout_page_carries_no_client_secret_only_what_the_payment_element_needs(
    client: Client, settings: Settings
) -> None:
    await fill_cart(client, ("code", 1))
    for url, pay_url, total in (
        ("/checkout", "/checkout/pay", delivered(2900, 1)),
        ("/checkout/hackers?quantity=2", "/checkout/hackers/pay", delivered(4400, 2)),
    ):
        body = await (await client.get(url)).get_data(as_text=True)
        assert_no_client_secret(body, settings)
        assert f'src="{settings.stripe_js_url}"' in body
        form = re.search(r'<form id="payment-form"[^>]*>', body)
        assert form, "the page has the payment form"
        assert f'action="{pay_url}"' in form[0]
        assert f'data-publishable-key="{settings.stripe_publishable_key}"' in form[0]
        assert f'data-amount="{total}"' in form[0] and 'data-currency="sgd"' in form[0]
        assert 'data-country="SG"' in form[0]
    summary = await post(client, "/checkout/hackers/quantity", {"quantity": "3"}, HTMX)
    assert_no_client_secret(await summary.get_data(as_text=True), settings)


async def test_after_a_decline_the_reloaded_page_still_carries_no_client_secret(
    client: Client, sandbox: SandboxServer, settings: Settings
) -> None:
    assert (await press_pay(client, sandbox, "/checkout/code", DECLINED)).status_code == 402
    intent_id = await session_intent(client, "code")
    assert intent_id is not None  # the session now holds an intent, with its secret at Stripe
    secret = sandbox.client().v1.payment_intents.retrieve(intent_id).client_secret
    assert secret

    page = await client.get("/checkout/code")
    body = await page.get_data(as_text=True)

    assert page.status_code == 200 and 'id="payment-form"' in body
    assert secret not in body and intent_id not in body
    assert_no_client_secret(body, settings)


async def test_reloading_a_checkout_makes_no_intent_nor_touches_the_one_a_decline_left(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1))
    before = newest_intent(sandbox)
    for _ in range(10):
        assert (await client.get("/checkout")).status_code == 200
    assert newest_intent(sandbox) == before
    async with client.session_transaction() as session:
        # Looking opens the checkout (its id, so a Pay whose answer is lost can be found) and
        # makes no intent.
        assert [saved["intent"] for saved in session["checkouts"].values()] == [None]

    assert (await press_pay(client, sandbox, "/checkout", DECLINED)).status_code == 402
    declined = await session_intent(client)
    assert declined is not None and newest_intent(sandbox) == declined
    left = sandbox.client().v1.payment_intents.retrieve(declined)
    await fill_cart(client, ("hackers", 1))  # a different order on every reload from now on
    for _ in range(10):
        assert (await client.get("/checkout")).status_code == 200

    assert newest_intent(sandbox) == declined
    assert await session_intent(client) == declined
    after = sandbox.client().v1.payment_intents.retrieve(declined)
    assert (after.status, after.amount, after.metadata) == (
        "requires_payment_method",
        left.amount,
        left.metadata,
    )


@pytest.mark.parametrize("path", ["htmx", "plain", "url"])
async def test_the_intent_pay_makes_charges_the_total_the_page_shows_after_a_quantity_change(
    client: Client, sandbox: SandboxServer, path: str
) -> None:
    await client.get("/checkout/code")
    if path == "htmx":
        response = await post(
            client, "/checkout/code/quantity", form={"quantity": "3"}, headers=HTMX
        )
        assert response.headers["HX-Trigger"] == "checkout:amount-changed"
        page = await response.get_data(as_text=True)
    elif path == "plain":
        response = await post(client, "/checkout/code/quantity", form={"quantity": "3"})
        page = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    else:
        page = await (await client.get("/checkout/code?quantity=3")).get_data(as_text=True)
    total = int(shown_on(page)["total"])
    assert total == 3 * 2900  # 87.00 SGD of books: delivered free

    paid = await press_pay(client, sandbox, "/checkout/code", page=page)

    assert paid.status_code == 200
    intent = sandbox.client().v1.payment_intents.retrieve(pushed_intent(paid))
    assert (intent.amount, intent.metadata["lines_1"]) == (total, "code:3:2900")


async def test_the_checkout_shows_and_its_quantity_changes_while_stripe_is_down(
    client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("hackers", 1))
    sandbox.set_faults(fail_rate=1.0)
    for url in ("/checkout", "/checkout/code"):
        page = await client.get(url)
        body = await page.get_data(as_text=True)
        assert page.status_code == 200 and 'id="payment-form"' in body
        # Only in the template checkout.js shows should the pay step not reach Stripe.
        assert body.count("couldn't reach our payment provider") == 1
        assert 'id="unavailable-template"' in body
    fragment = await post(client, "/checkout/code/quantity", {"quantity": "2"}, HTMX)
    body = await fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body
    assert f'class="total" data-amount="{delivered(5800, 2)}"' in body
    plain = await post(client, "/checkout/code/quantity", {"quantity": "2"})
    assert plain.status_code == 303
    assert (await client.get(plain.headers["Location"])).status_code == 200


async def test_stripe_sends_the_shopper_back_to_the_public_url_not_the_requests_host(
    settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bookshop.payments.transport import CurlClient

    sent: list[dict[str, list[str]]] = []
    request = CurlClient.request

    def recorded(self: CurlClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        post_data = args[1] if len(args) > 1 else kwargs.get("post_data")
        if method == "post" and url.endswith("/v1/payment_intents"):
            sent.append(parse_qs(post_data or ""))
        return request(self, method, url, *args, **kwargs)

    monkeypatch.setattr(CurlClient, "request", recorded)
    # Behind a TLS proxy the request says http://127.0.0.1:5000; Stripe must send shoppers back
    # (after a bank's redirect) to the address they know.
    proxied = {"Host": "127.0.0.1:5000"}
    async with create_app(replace(settings, public_url="https://books.example")).test_app() as app:
        client = await deliver_to_singapore(app.test_client())
        await fill_cart(client, ("code", 1))
        page = await (await client.get("/checkout", headers=proxied)).get_data(as_text=True)
        paid = await press_pay(client, sandbox, "/checkout", page=page, headers=HTMX | proxied)

    assert paid.status_code == 200
    assert [each["return_url"] for each in sent] == [["https://books.example/success"]]


# --- A payment made, its result never seen ----------------------------------------------------


async def test_a_book_paid_whose_result_was_never_seen_shows_it_once_then_is_a_new_order(
    app: Quart, client: Client, sandbox: SandboxServer
) -> None:
    intent_id, _ = await paid_but_never_seen(app, client, sandbox, "/checkout/code")

    # The tab closed before the result; the shopper comes back to the book's checkout.
    again = await client.get("/checkout/code")
    assert (again.status_code, again.headers["Cache-Control"]) == (303, "no-store")
    assert again.headers["Location"].startswith(f"/success?payment_intent={intent_id}&")
    receipt = await client.get(again.headers["Location"])
    assert "Thank you for your order" in await receipt.get_data(as_text=True)

    # Once: the next visit is a new order (which asks again where the books go)...
    assert (await client.get("/checkout/code")).headers["Location"].startswith("/checkout/address")
    await deliver_to_singapore(client)
    assert (await client.get("/checkout/code")).status_code == 200
    # ... paid with a new intent.
    paid = await press_pay(client, sandbox, "/checkout/code")
    assert paid.status_code == 200 and pushed_intent(paid) != intent_id


async def test_a_paid_cart_whose_result_was_never_seen_shows_it_instead_of_a_new_payment(
    app: Quart, client: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 1))
    intent_id, _ = await paid_but_never_seen(app, client, sandbox, "/checkout")

    again = await client.get("/checkout")

    assert again.status_code == 303
    assert again.headers["Location"].startswith(f"/success?payment_intent={intent_id}&")
    assert "Your cart is empty." in await (await client.get("/cart")).get_data(as_text=True)
    assert (await client.get("/checkout")).headers["Location"] == "/cart"


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
async def test_a_quantity_change_on_a_book_paid_in_another_tab_leads_to_its_receipt(
    app: Quart, client: Client, sandbox: SandboxServer, headers: dict[str, str] | None
) -> None:
    intent_id, _ = await paid_but_never_seen(app, client, sandbox, "/checkout/code")

    changed = await post(client, "/checkout/code/quantity", {"quantity": "2"}, headers)
    if headers:  # htmx loads the receipt as a page
        assert changed.status_code == 204
        receipt_url = changed.headers["HX-Redirect"]
    else:  # the page, which sends a paid buy-now to its receipt
        assert changed.status_code == 303
        receipt_url = (await client.get(changed.headers["Location"])).headers["Location"]

    assert receipt_url.startswith(f"/success?payment_intent={intent_id}&")
    receipt = await client.get(receipt_url)
    assert "Thank you for your order" in await receipt.get_data(as_text=True)


# --- Served under a root path -----------------------------------------------------------------


@pytest.mark.parametrize("headers", [HTMX, None], ids=["htmx", "plain"])
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


async def test_an_htmx_quantity_change_says_the_new_total_and_keeps_the_selects_focus(
    client: Client,
) -> None:
    page = await (await client.get("/checkout/working-in-public")).get_data(as_text=True)
    # The total is no live region of its own (it is replaced on each swap): the page's is.
    assert re.search(r'<p class="fs-5 mb-0 mt-2">Total: <strong class="total"', page)
    assert said(page) is None and 'hx-trigger="change delay:1s, submit"' in page
    response = await post(
        client, "/checkout/working-in-public/quantity", form={"quantity": "2"}, headers=HTMX
    )
    body = await response.get_data(as_text=True)
    assert said(body) == f"Quantity 2. Total {format_money(delivered(5600, 2), 'sgd')}."
    assert alerted(body) is None and focused(body) == []
    assert 'id="quantity"' in body and 'id="update-quantity"' in body


CODE = "Code: The Hidden Language of Computer Hardware and Software"

# --- Copies left --------------------------------------------------------------------------------


@pytest.fixture
def stock(app: Quart) -> Stock:
    """The shop's stock: a book is counted once a test sets how many copies it has."""
    stock: Stock = app.extensions["stock"]
    return stock


def order_line(body: str, book_id: str) -> str:
    """One line of a cart's checkout summary."""
    start = body.index(
        f'class="order-line d-flex justify-content-between gap-3 py-1" data-book="{book_id}"'
    )
    return body[start : body.index("</li>", start)]


async def test_a_book_bought_now_beyond_what_is_left_says_so_and_offers_to_take_what_is(
    client: Client, stock: Stock
) -> None:
    await stock.set("code", 2, "test")
    page = await (await client.get("/checkout/code?quantity=3")).get_data(as_text=True)
    assert re.search(r'<p class="stock [^"]*">Only 2 left: you asked for 3</p>', page)
    forms = re.findall(
        r'<form method="post" action="/checkout/code/quantity".*?</form>', page, re.S
    )
    (take,) = [form for form in forms if "take-quantity" in form]
    assert 'hx-target="#checkout-summary"' in take
    assert '<input type="hidden" name="quantity" value="2">' in take
    assert '<button id="take-quantity" class="btn btn-primary" type="submit">Take 2<' in take

    # Plain: a 303 to the page at 2 copies, which has nothing more to say.
    taken = await post(client, "/checkout/code/quantity", {"quantity": "2", "taken": "1"})
    assert taken.headers["Location"] == "/checkout/code?quantity=2"
    page = await (await client.get(taken.headers["Location"])).get_data(as_text=True)
    assert "Only 2 left" not in page and 'id="take-quantity"' not in page

    # htmx: the summary, its total said, and the focus on the quantity (the button is gone).
    response = await post(client, "/checkout/code/quantity", {"quantity": "2", "taken": "1"}, HTMX)
    body = await response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "checkout:amount-changed"
    assert said(body) == f"Quantity 2. Total {format_money(delivered(5800, 2), 'sgd')}."
    assert [tag.split(" name")[0] for tag in focused(body)] == [
        '<select class="form-select" id="quantity"'
    ]


async def test_a_quantity_chosen_beyond_what_is_left_is_said_with_what_is(
    client: Client, stock: Stock
) -> None:
    await stock.set("code", 2, "test")
    body = await (await post(client, "/checkout/code/quantity", {"quantity": "3"}, HTMX)).get_data(
        as_text=True
    )
    assert said(body) == "Quantity 3. Only 2 left: you asked for 3. Total 87.00\xa0SGD."
    assert focused(body) == []  # the select keeps the focus (its id)
    assert 'id="take-quantity"' in body


async def test_a_sold_out_book_bought_now_says_so_and_cannot_be_added(
    client: Client, stock: Stock
) -> None:
    await stock.set("code", 0, "test")
    page = await (await client.get("/checkout/code")).get_data(as_text=True)
    assert re.search(r'<p class="stock [^"]*">Sold out</p>', page)
    assert 'id="take-quantity"' not in page
    assert re.search(r'<button id="add-code" [^>]* disabled>', page)


async def test_a_carts_checkout_line_beyond_what_is_left_offers_to_take_what_is(
    client: Client, stock: Stock
) -> None:
    await fill_cart(client, ("code", 3), ("hackers", 1))
    await stock.set("code", 2, "test")
    page = await (await client.get("/checkout")).get_data(as_text=True)
    line = order_line(page, "code")
    assert "Only 2 left: you asked for 3" in line
    assert 'action="/checkout/cart/code/quantity"' in line
    assert 'hx-post="/checkout/cart/code/quantity" hx-target="#checkout-summary"' in line
    assert '<input type="hidden" name="quantity" value="2">' in line
    assert "Take 2<span" in line
    assert "stock" not in order_line(page, "hackers")

    taken = await post(client, "/checkout/cart/code/quantity", {"quantity": "2"})
    assert (taken.status_code, taken.headers["Location"]) == (303, "/checkout")
    page = await (await client.get("/checkout")).get_data(as_text=True)
    assert "Only 2 left" not in page
    assert books_in(page) == ["code", "hackers"]
    assert 'data-lines="code:2:2900,hackers:1:2200"' in page


async def test_taking_what_is_left_in_a_carts_checkout_with_htmx_says_the_new_total(
    client: Client, stock: Stock
) -> None:
    await fill_cart(client, ("code", 3), ("hackers", 1))
    await stock.set("code", 2, "test")
    response = await post(client, "/checkout/cart/code/quantity", {"quantity": "2"}, HTMX)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    # The Payment Element hears of the new amount; the header's count follows.
    assert response.headers["HX-Trigger"] == "checkout:amount-changed"
    assert re.search(r'<span id="cart-count" hx-swap-oob="innerHTML">3<', body)
    total = format_money(delivered(8000, 3), "sgd")
    assert said(body) == f"{CODE}: 2 copies. Total {total}."
    assert 'data-lines="code:2:2900,hackers:1:2200"' in body
    # The Take button is gone: the line's title takes the focus.
    assert [tag.split(" tabindex")[0] for tag in focused(body)] == [
        '<span class="line-title" id="order-line-code"'
    ]


async def test_a_sold_out_line_of_a_carts_checkout_offers_remove(
    client: Client, stock: Stock
) -> None:
    await fill_cart(client, ("code", 1), ("hackers", 1))
    await stock.set("code", 0, "test")
    page = await (await client.get("/checkout")).get_data(as_text=True)
    line = order_line(page, "code")
    assert re.search(r'<span class="stock [^"]*">Sold out</span>', line)
    assert 'action="/checkout/cart/code/remove"' in line and "Take" not in line

    response = await post(client, "/checkout/cart/code/remove", {}, HTMX)
    body = await response.get_data(as_text=True)
    assert books_in(body) == ["hackers"]
    assert said(body) == (
        f"Removed {CODE} from your order. Total {format_money(delivered(2200, 1), 'sgd')}."
    )
    assert [tag.split(" tabindex")[0] for tag in focused(body)] == [
        '<span class="line-title" id="order-line-hackers"'
    ]
    assert response.headers["HX-Trigger"] == "checkout:amount-changed"


async def test_removing_a_carts_last_line_from_its_checkout_leads_to_the_cart_or_the_heading(
    client: Client, stock: Stock
) -> None:
    await fill_cart(client, ("hackers", 1), ("code", 1))
    await stock.set("code", 0, "test")
    body = await (await post(client, "/checkout/cart/code/remove", {}, HTMX)).get_data(as_text=True)
    # The last line went: the order's heading takes the focus.
    assert [tag.split(" tabindex")[0] for tag in focused(body)] == [
        '<h2 id="summary-heading" class="h5"'
    ]
    await stock.set("hackers", 0, "test")
    emptied = await post(client, "/checkout/cart/hackers/remove", {}, HTMX)
    assert (emptied.status_code, emptied.headers["HX-Redirect"]) == (204, "/cart")
    plain = await post(client, "/checkout/cart/hackers/remove", {})
    assert plain.status_code == 404  # not in the cart any more


async def test_the_pay_steps_refusal_of_a_short_line_offers_what_is_left(
    client: Client, stock: Stock, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 3))
    page = await (await client.get("/checkout")).get_data(as_text=True)
    await stock.set("code", 2, "test")  # sold meanwhile, after the page was shown
    response = await press_pay(client, sandbox, "/checkout", page=page)
    body = await response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Nothing was charged" in (alerted(body) or "")
    assert "Only 2 left: you asked for 3" in order_line(body, "code")
    assert 'id="take-code"' in body


async def test_copies_held_for_a_checkouts_3d_secure_are_not_short_on_its_own_page(
    client: Client, stock: Stock, sandbox: SandboxServer
) -> None:
    await fill_cart(client, ("code", 2))
    await stock.set("code", 2, "test")
    await start_3d_secure(client, sandbox, "/checkout")
    # Its copies are held for this checkout: to the shopper paying, nothing is short.
    page = await (await client.get("/checkout")).get_data(as_text=True)
    assert "stock" not in order_line(page, "code") and "Sold out" not in page
