"""What search engines read: robots.txt, the sitemap, and a book's schema.org data."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from quart import Blueprint, Response, url_for
from werkzeug.exceptions import NotFound

from bookshop.catalog import Book, catalog
from bookshop.money import to_major
from bookshop.orders import links
from bookshop.pages import absolute_url
from bookshop.security import policy
from bookshop.stock.availability import Availability

blueprint = Blueprint("seo", __name__)

SITEMAP_NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
# The sitemap protocol's limit of URLs in one file.
SITEMAP_URLS = 50_000
# Crawlers may read these for a day.
CRAWLER_CACHE_SECONDS = 86400
IN_STOCK = "https://schema.org/InStock"
LIMITED = "https://schema.org/LimitedAvailability"
OUT_OF_STOCK = "https://schema.org/OutOfStock"


def book_data(
    book: Book,
    page_url: str,
    cover_url: str,
    currency: str,
    availability: Availability | None = None,
) -> dict[str, Any]:
    """The book as schema.org JSON-LD: a Book that is also a Product, with its Offer and what is
    left of it (`availability`: none for a book the shop does not count, which is in stock)."""
    return {
        "@context": "https://schema.org",
        "@type": ["Book", "Product"],
        "@id": page_url,
        "url": page_url,
        "name": book.title,
        "author": {"@type": "Person", "name": book.author},
        "description": book.blurb,
        "image": cover_url,
        "sku": book.id,
        **({"isbn": book.isbn} if book.isbn else {}),
        "offers": {
            "@type": "Offer",
            "url": page_url,
            "price": str(to_major(book.price, currency)),
            "priceCurrency": currency.upper(),
            "availability": offer_availability(availability),
        },
    }


def offer_availability(availability: Availability | None) -> str:
    """schema.org's word for what is left: out of stock, limited (as few as the page says "Only
    2 left" for), or in stock (a book the shop does not count can always be ordered)."""
    if availability is None:
        return IN_STOCK
    if availability.sold_out:
        return OUT_OF_STOCK
    return LIMITED if availability.few else IN_STOCK


def not_for_crawlers() -> list[str]:
    """URL prefixes crawlers should leave alone: buy-now checkouts (a private page per shopper,
    nothing to index), results (they need a client secret) and shoppers' order pages (a signed
    link each, never to be listed anywhere). The cart's checkout (`/checkout`, which sends an
    empty cart back to /cart) and the cart stay open."""
    return [
        url_for("checkout.cart") + "/",
        url_for("checkout.payment_status"),
        url_for("checkout.success"),
        url_for("shop.index").removesuffix("/") + links.PATH,
    ]


@blueprint.get("/robots.txt")
@policy()
async def robots() -> Response:
    """Which URLs crawlers may fetch, and where the sitemap is."""
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in not_for_crawlers())]
    lines += ["", f"Sitemap: {absolute_url(url_for('seo.sitemap'))}", ""]
    return _for_crawlers(Response("\n".join(lines), content_type="text/plain; charset=utf-8"))


@blueprint.get("/sitemap.xml")
@policy()
async def sitemap() -> Response:
    """The sitemap index: one sitemap file for each SITEMAP_URLS of the shop's pages."""
    index = ElementTree.Element("sitemapindex", xmlns=SITEMAP_NAMESPACE)
    files = -(-(await catalog().count() + 1) // SITEMAP_URLS)  # the shop page, then each book
    for number in range(1, files + 1):
        location = absolute_url(url_for("seo.sitemap_file", number=number))
        ElementTree.SubElement(ElementTree.SubElement(index, "sitemap"), "loc").text = location
    return _xml(index)


@blueprint.get("/sitemap-<int:number>.xml")
@policy()
async def sitemap_file(number: int) -> Response:
    """One sitemap file: the shop page (in the first) and its share of the books' pages."""
    if number < 1:
        raise NotFound("There is no such sitemap file.")
    # The shop page takes the first file's first place; the books follow, SITEMAP_URLS a file.
    paths = [url_for("shop.index")] if number == 1 else []
    start = 0 if number == 1 else (number - 1) * SITEMAP_URLS - 1
    book_ids = await catalog().ids(start, SITEMAP_URLS - len(paths))
    if number > 1 and not book_ids:
        raise NotFound("There is no such sitemap file.")
    # Ids are slugs, so each book's path is the same prefix and its id: no url_for per book.
    prefix = url_for("shop.book", book_id="-").removesuffix("-")
    paths += [prefix + book_id for book_id in book_ids]
    urlset = ElementTree.Element("urlset", xmlns=SITEMAP_NAMESPACE)
    for path in paths:
        ElementTree.SubElement(ElementTree.SubElement(urlset, "url"), "loc").text = absolute_url(
            path
        )
    return _xml(urlset)


def _xml(root: ElementTree.Element) -> Response:
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return _for_crawlers(Response(body, content_type="application/xml; charset=utf-8"))


def _for_crawlers(response: Response) -> Response:
    response.cache_control.public = True
    response.cache_control.max_age = CRAWLER_CACHE_SECONDS
    return response
