"""The checkout page, its summary fragment and the quantity form."""

from __future__ import annotations

import pytest

from tests.fixtures.app import HTMX, Client


async def test_checkout_page_shows_the_summary(client: Client) -> None:
    response = await client.get("/checkout/art-of-doing-science")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    assert "The Art of Doing Science and Engineering" in body
    assert "Richard Hamming" in body
    assert 'data-amount="2300"' in body


async def test_quantity_in_the_url_sets_the_total(client: Client) -> None:
    body = await (await client.get("/checkout/working-in-public?quantity=3")).get_data(as_text=True)
    assert 'data-amount="8400"' in body
    assert "84.00\xa0SGD" in body


async def test_htmx_quantity_change_returns_only_the_summary(client: Client) -> None:
    response = await client.post(
        "/checkout/working-in-public/quantity", form={"quantity": "2"}, headers=HTMX
    )
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert 'data-amount="5600"' in body
    assert response.headers["HX-Replace-Url"] == "/checkout/working-in-public?quantity=2"
    assert "HX-Request" in response.headers["Vary"]


async def test_plain_quantity_change_redirects_with_303(client: Client) -> None:
    response = await client.post("/checkout/working-in-public/quantity", form={"quantity": "4"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/checkout/working-in-public?quantity=4"


@pytest.mark.parametrize(
    ("quantity", "status"), [("0", 422), ("11", 422), ("abc", 400), ("-1", 400), ("2.5", 400)]
)
async def test_bad_quantities_get_a_readable_error(
    client: Client, quantity: str, status: int
) -> None:
    for headers in ({}, HTMX):
        page = await client.get(f"/checkout/code?quantity={quantity}", headers=headers)
        posted = await client.post(
            "/checkout/code/quantity", form={"quantity": quantity}, headers=headers
        )
        assert page.status_code == posted.status_code == status
        body = await posted.get_data(as_text=True)
        assert ("<html" in body) is (not headers)
        assert "quantity" in body.lower() or "copies" in body


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
