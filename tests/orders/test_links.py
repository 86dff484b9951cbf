"""The shopper's order link: signed for one order with the shop's key, refused when touched."""

from __future__ import annotations

from bookshop.config import Settings
from bookshop.orders.links import PATH, number_from, order_token, order_url


def test_a_token_names_its_order_and_only_with_the_shops_key() -> None:
    token = order_token("shop-key", "BK-7Q4M2X")
    assert number_from("shop-key", token) == "BK-7Q4M2X"
    assert number_from("another-shops-key", token) is None


def test_a_tampered_or_garbled_token_names_no_order() -> None:
    token = order_token("shop-key", "BK-7Q4M2X")
    other = order_token("shop-key", "BK-AAAAAA")
    forged = token.split(".")[0] + "." + other.split(".")[1]
    for bad in (forged, token[:-1] + ("A" if token[-1] != "A" else "B"), "", "BK-7Q4M2X", "a.b.c"):
        assert number_from("shop-key", bad) is None


def test_the_link_is_on_the_public_url() -> None:
    settings = Settings(secret_key="shop-key", public_url="https://books.example")
    assert order_url(settings, "BK-7Q4M2X") == (
        f"https://books.example{PATH}{order_token('shop-key', 'BK-7Q4M2X')}"
    )
    local = Settings(secret_key="shop-key", host="127.0.0.1", port=5000)
    assert order_url(local, "BK-7Q4M2X").startswith("http://127.0.0.1:5000/orders/")
