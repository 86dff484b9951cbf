"""What search engines read: robots.txt, the sitemap, and a book's schema.org data."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from quart import Blueprint, Response, url_for

from bookshop.catalog import Book, default_catalog
from bookshop.money import to_major
from bookshop.pages import absolute_url

blueprint = Blueprint("seo", __name__)

SITEMAP_NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
# Crawlers may read these for a day; the catalog changes with a release.
CRAWLER_CACHE_SECONDS = 86400


def book_data(book: Book, page_url: str, cover_url: str, currency: str) -> dict[str, Any]:
    """The book as schema.org JSON-LD: a Book that is also a Product, with its Offer. No
    availability: the shop keeps no stock yet, and an invented one would mislead."""
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
        "offers": {
            "@type": "Offer",
            "url": page_url,
            "price": str(to_major(book.price, currency)),
            "priceCurrency": currency.upper(),
        },
    }


def not_for_crawlers() -> list[str]:
    """URL prefixes crawlers should leave alone: each buy-now checkout they opened would create a
    PaymentIntent, and results need a client secret. The cart's checkout (`/checkout`, which
    sends an empty cart back to /cart) and the cart stay open: they create nothing."""
    return [
        url_for("checkout.cart") + "/",
        url_for("checkout.payment_status"),
        url_for("checkout.success"),
    ]


@blueprint.get("/robots.txt")
async def robots() -> Response:
    """Which URLs crawlers may fetch, and where the sitemap is."""
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in not_for_crawlers())]
    lines += ["", f"Sitemap: {absolute_url(url_for('seo.sitemap'))}", ""]
    return _for_crawlers(Response("\n".join(lines), content_type="text/plain; charset=utf-8"))


@blueprint.get("/sitemap.xml")
async def sitemap() -> Response:
    """The shop page and every book's page, as absolute URLs."""
    urlset = ElementTree.Element("urlset", xmlns=SITEMAP_NAMESPACE)
    paths = [url_for("shop.index")]
    paths += [url_for("shop.book", book_id=book.id) for book in default_catalog().books]
    pages = [absolute_url(path) for path in paths]
    for page in pages:
        ElementTree.SubElement(ElementTree.SubElement(urlset, "url"), "loc").text = page
    body = ElementTree.tostring(urlset, encoding="utf-8", xml_declaration=True)
    return _for_crawlers(Response(body, content_type="application/xml; charset=utf-8"))


def _for_crawlers(response: Response) -> Response:
    response.cache_control.public = True
    response.cache_control.max_age = CRAWLER_CACHE_SECONDS
    return response
