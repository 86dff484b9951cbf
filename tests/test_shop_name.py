"""The shop's name is a setting (SHOP_NAME): every page's title and header say it, the shop's
pages, the confirmation and the back office alike, and never a name written into a template."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from quart import Quart

from bookshop import create_app
from bookshop.config import Settings
from tests.checkout.steps import client_secret_of, pushed_intent, result_query
from tests.fixtures.app import deliver_to_singapore
from tests.fixtures.paying import fill_cart, press_pay
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.staff import STAFF_EMAIL, signed_in_client

NAME = "Kinokuniya"


@pytest.fixture
async def kinokuniya(settings: Settings) -> AsyncIterator[Quart]:
    """The shop, named Kinokuniya."""
    app = create_app(replace(settings, shop_name=NAME))
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


def title_of(body: str) -> str:
    """A page's (or fragment's) <title>, as text."""
    found = re.search(r"<title>(.*?)</title>", body)
    assert found, "it has a title"
    return html.unescape(found[1])


def brand_of(body: str) -> str:
    """What the page's header calls the shop (its brand link)."""
    found = re.search(r'class="navbar-brand[^"]*" href="[^"]*">([^<]*)</a>', body)
    assert found, "it has the header's brand"
    return html.unescape(found[1])


async def test_every_page_says_the_shops_name_in_its_title_and_header_and_never_bookshop(
    kinokuniya: Quart, sandbox: SandboxServer
) -> None:
    shopper = await deliver_to_singapore(kinokuniya.test_client())
    await fill_cart(shopper, ("code", 1))
    pages = {
        path: await (await shopper.get(path)).get_data(as_text=True)
        for path in ("/", "/?q=machine", "/books/code", "/cart", "/checkout", "/no/such/page")
    }
    paid = await press_pay(shopper, sandbox, "/checkout")
    fragment = await paid.get_data(as_text=True)
    intent_id = pushed_intent(paid)
    confirmation = await shopper.get(
        f"/success?{result_query(intent_id, client_secret_of(sandbox, intent_id))}"
    )
    pages["/success"] = await confirmation.get_data(as_text=True)
    order_page = re.search(r'class="order-link" href="([^"]+)"', pages["/success"])
    assert order_page
    pages["order page"] = await (await shopper.get(order_page[1])).get_data(as_text=True)
    staff = await signed_in_client(kinokuniya, STAFF_EMAIL, "staff")
    back_office = await (await staff.get("/admin/orders")).get_data(as_text=True)

    for path, body in pages.items():
        assert title_of(body).endswith(f"\u2013 {NAME}") or title_of(body) == NAME, path
        assert brand_of(body) == NAME, path
        assert "Bookshop" not in body, path
    assert title_of(fragment) == f"Thank you \u2013 {NAME}"  # htmx sets the document's title
    assert "Bookshop" not in fragment
    assert title_of(back_office) == f"Orders \u2013 {NAME} back office"
    assert brand_of(back_office) == f"{NAME} back office"
    assert "Bookshop" not in back_office


async def test_the_shops_name_is_text_never_markup(settings: Settings) -> None:
    app = create_app(replace(settings, shop_name="Books & <i>Co</i>"))
    async with app.test_app() as started:
        body = await (await started.test_client().get("/")).get_data(as_text=True)

    assert "<title>Books &amp; &lt;i&gt;Co&lt;/i&gt;</title>" in body
    assert "<i>Co" not in body
