"""What search engines read: robots.txt, the sitemap, each book's JSON-LD, titles, descriptions."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser
from xml.etree import ElementTree

import pytest
from quart import Quart

from bookshop import create_app
from bookshop.catalog import Book
from bookshop.config import Settings
from bookshop.money import to_major
from bookshop.seo import SITEMAP_NAMESPACE, SITEMAP_URLS
from tests.fixtures.app import BOOKS as TEST_BOOKS
from tests.fixtures.app import HTMX, Client
from tests.fixtures.catalogs import generated_books

BOOKS = list(TEST_BOOKS.values())
JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def json_ld(body: str) -> dict[str, object]:
    """The page's one JSON-LD block, parsed."""
    (block,) = JSON_LD.findall(body)
    data = json.loads(block)
    assert isinstance(data, dict)
    return data


def meta_description(body: str) -> str:
    match = re.search(r'<meta name="description" content="([^"]*)">', body)
    assert match, "the page has a meta description"
    return html.unescape(match[1])


def canonical(body: str) -> str | None:
    match = re.search(r'<link rel="canonical" href="([^"]+)">', body)
    return match[1] if match else None


@pytest.mark.parametrize("book", BOOKS, ids=lambda book: book.id)
async def test_every_book_page_carries_valid_json_ld_with_its_price(
    client: Client, book: Book
) -> None:
    response = await client.get(f"/books/{book.id}")
    body = await response.get_data(as_text=True)
    data = json_ld(body)
    page_url = f"http://localhost/books/{book.id}"
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == ["Book", "Product"]
    assert data["@id"] == data["url"] == page_url == canonical(body)
    assert data["name"] == book.title
    assert data["author"] == {"@type": "Person", "name": book.author}
    assert data["description"] == book.blurb
    assert data["image"] == f"http://localhost/covers/{book.id}.svg"
    offer = data["offers"]
    assert isinstance(offer, dict)
    assert offer["@type"] == "Offer"
    assert offer["url"] == page_url
    assert offer["priceCurrency"] == "SGD"
    # A decimal string in major units, the one the page shows: 2300 cents -> "23.00".
    assert offer["price"] == str(to_major(book.price, "sgd"))
    assert re.fullmatch(r"\d+\.\d\d", str(offer["price"]))
    assert f"{offer['price']}\xa0SGD" in body
    # The tests' books are not counted: a book the shop does not count can always be ordered.
    assert offer["availability"] == "https://schema.org/InStock"
    cover = await client.get(urlsplit(str(data["image"])).path)
    assert cover.status_code == 200


@pytest.mark.parametrize(
    ("on_hand", "availability"),
    [
        (None, "InStock"),
        (12, "InStock"),
        (4, "InStock"),
        (3, "LimitedAvailability"),
        (1, "LimitedAvailability"),
        (0, "OutOfStock"),
    ],
)
async def test_json_ld_says_what_is_left_of_a_counted_book_as_the_page_does(
    client: Client, app: Quart, on_hand: int | None, availability: str
) -> None:
    if on_hand is not None:
        await app.extensions["stock"].set("code", on_hand, "test")
    body = await (await client.get("/books/code")).get_data(as_text=True)
    offer = json_ld(body)["offers"]
    assert isinstance(offer, dict)
    assert offer["availability"] == f"https://schema.org/{availability}"


async def test_json_ld_counts_the_copies_checkouts_hold_as_gone(client: Client, app: Quart) -> None:
    stock = app.extensions["stock"]
    await stock.set("code", 3, "test")
    await stock.reserve("someone-paying", [("code", 3)], datetime.now(UTC) + timedelta(minutes=5))
    offer = json_ld(await (await client.get("/books/code")).get_data(as_text=True))["offers"]
    assert isinstance(offer, dict)
    assert offer["availability"] == "https://schema.org/OutOfStock"


async def test_json_ld_prices_follow_the_currency_s_decimals(settings: Settings) -> None:
    yen = dataclasses.replace(settings, currency="jpy")
    async with create_app(yen).test_app() as app:
        body = await (await app.test_client().get("/books/code")).get_data(as_text=True)
    offer = json_ld(body)["offers"]
    assert isinstance(offer, dict)
    assert (offer["price"], offer["priceCurrency"]) == ("2900", "JPY")


async def test_json_ld_cannot_break_out_of_its_script_element(app: Quart) -> None:
    async with app.test_request_context("/"):
        rendered = await app.jinja_env.from_string(
            '<script type="application/ld+json">{{ data|tojson }}</script>'
        ).render_async(data={"name": "</script><script>alert(1)</script>"})
    assert rendered.count("</script>") == 1
    assert json.loads(JSON_LD.findall(rendered)[0])["name"].startswith("</script>")


async def sitemap_locations(client: Client, path: str, tag: str) -> list[str]:
    """The <loc>s of a sitemap file (tag "urlset") or sitemap index (tag "sitemapindex")."""
    response = await client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = ElementTree.fromstring(await response.get_data(as_text=False))
    assert root.tag == f"{{{SITEMAP_NAMESPACE}}}{tag}"
    return [str(loc.text) for loc in root.iter(f"{{{SITEMAP_NAMESPACE}}}loc")]


async def test_the_sitemap_lists_the_shop_and_every_book(client: Client) -> None:
    files = await sitemap_locations(client, "/sitemap.xml", "sitemapindex")
    assert files == ["http://localhost/sitemap-1.xml"]
    locations = await sitemap_locations(client, "/sitemap-1.xml", "urlset")
    assert locations == [
        "http://localhost/",
        *(f"http://localhost/books/{book_id}" for book_id in sorted(TEST_BOOKS)),
    ]
    for location in locations:
        page = await client.get(urlsplit(str(location)).path)
        assert page.status_code == 200


async def test_robots_txt_keeps_crawlers_out_of_buy_now_checkouts_only(client: Client) -> None:
    response = await client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = await response.get_data(as_text=True)
    robots = RobotFileParser()
    robots.parse(text.splitlines())
    allowed = ["/", "/?q=code", "/books/code", "/covers/code.svg", "/cart", "/checkout"]
    # Each crawl of a buy-now checkout would create a PaymentIntent; results need a secret; an
    # order's page is its shopper's alone.
    refused = [
        "/checkout/code",
        "/checkout/code?quantity=2",
        "/payment/status",
        "/success",
        "/orders/InRCSy03UTRNMlgi.sig",
    ]
    for path in allowed:
        assert robots.can_fetch("Googlebot", f"http://localhost{path}"), path
    for path in refused:
        assert not robots.can_fetch("Googlebot", f"http://localhost{path}"), path
    assert robots.site_maps() == ["http://localhost/sitemap.xml"]


async def test_robots_txt_follows_the_root_path_the_shop_is_served_under(client: Client) -> None:
    text = await (await client.get("/shop/robots.txt", root_path="/shop")).get_data(as_text=True)
    assert "Disallow: /shop/checkout/\n" in text
    assert "Sitemap: http://localhost/shop/sitemap.xml" in text


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("/", "Bookshop"),
        ("/?q=machine", "“machine” \u2013 Bookshop"),
        ("/books/code", "Code: The Hidden Language of Computer Hardware and Software by Charles"),
        ("/cart", "Your cart \u2013 Bookshop"),
        ("/checkout/code", "Checkout: Code"),
        ("/no/such/page", "We couldn't find that page \u2013 Bookshop"),
    ],
)
async def test_every_page_has_a_title_and_a_meta_description(
    client: Client, url: str, title: str
) -> None:
    body = await (await client.get(url)).get_data(as_text=True)
    page_title = re.search(r"<title>(.*?)</title>", body)
    assert page_title and html.unescape(page_title[1]).startswith(title)
    description = meta_description(body)
    assert 50 <= len(description) <= 160, description


async def test_book_pages_describe_their_own_book(client: Client) -> None:
    descriptions = set()
    for book in BOOKS:
        body = await (await client.get(f"/books/{book.id}")).get_data(as_text=True)
        description = meta_description(body)
        assert book.blurb in description and book.author in description
        descriptions.add(description)
    assert len(descriptions) == len(BOOKS)


async def test_the_shop_and_its_searches_name_the_shop_as_canonical(client: Client) -> None:
    plain = await (await client.get("/")).get_data(as_text=True)
    searched = await (await client.get("/?q=machine")).get_data(as_text=True)
    assert canonical(plain) == canonical(searched) == "http://localhost/"
    fragment = await (await client.get("/?q=machine", headers=HTMX)).get_data(as_text=True)
    assert canonical(fragment) is None  # a fragment has no head


async def test_absolute_urls_use_the_public_url_whatever_host_and_scheme_the_request_says(
    settings: Settings,
) -> None:
    shop = dataclasses.replace(settings, public_url="https://books.example")
    # A forged Host header, and the plain http:// a TLS proxy forwards.
    forged = {"Host": "evil.example"}
    async with create_app(shop).test_app() as app:
        client = app.test_client()
        book = await (await client.get("/books/code", headers=forged)).get_data(as_text=True)
        index = await (await client.get("/", headers=forged)).get_data(as_text=True)
        sitemap = await (await client.get("/sitemap.xml", headers=forged)).get_data(as_text=True)
        sitemap += await (await client.get("/sitemap-1.xml", headers=forged)).get_data(as_text=True)
        robots = await (await client.get("/robots.txt", headers=forged)).get_data(as_text=True)
    data = json_ld(book)
    offer = data["offers"]
    assert isinstance(offer, dict)
    page = "https://books.example/books/code"
    assert canonical(book) == data["@id"] == data["url"] == offer["url"] == page
    assert data["image"] == "https://books.example/covers/code.svg"
    assert canonical(index) == "https://books.example/"
    assert "<loc>https://books.example/sitemap-1.xml</loc>" in sitemap
    assert "<loc>https://books.example/</loc>" in sitemap
    assert f"<loc>{page}</loc>" in sitemap
    assert "Sitemap: https://books.example/sitemap.xml\n" in robots
    assert "evil.example" not in book + index + sitemap + robots


async def test_a_catalog_past_50000_pages_is_split_into_sitemap_files_of_50000(
    app: Quart, client: Client
) -> None:
    await app.extensions["catalog"].write(generated_books(SITEMAP_URLS))
    books = len(TEST_BOOKS) + SITEMAP_URLS
    files = await sitemap_locations(client, "/sitemap.xml", "sitemapindex")
    assert files == ["http://localhost/sitemap-1.xml", "http://localhost/sitemap-2.xml"]
    first = await sitemap_locations(client, "/sitemap-1.xml", "urlset")
    second = await sitemap_locations(client, "/sitemap-2.xml", "urlset")
    assert len(first) == SITEMAP_URLS and first[0] == "http://localhost/"
    assert len(second) == books + 1 - SITEMAP_URLS
    # Every book's page once, across both files.
    pages = first[1:] + second
    assert len(set(pages)) == books and all("/books/" in page for page in pages)
    assert (await client.get("/sitemap-3.xml")).status_code == 404
    assert (await client.get("/sitemap-0.xml")).status_code == 404
