"""The shop front: the book grid with search, each book's page, and the book covers."""

from __future__ import annotations

import hashlib
import textwrap

from quart import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop.catalog import default_catalog
from bookshop.config import Settings
from bookshop.forms import find_book
from bookshop.pages import absolute_url, render
from bookshop.seo import book_data

blueprint = Blueprint("shop", __name__)

MAX_QUERY_LENGTH = 100


@blueprint.get("/")
async def index() -> Response:
    """The shop: search form and the grid of (matching) books."""
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY_LENGTH:
        raise BadRequest(f"Searches can be at most {MAX_QUERY_LENGTH} characters long.")
    books = default_catalog().search(query)
    return await render(
        "shop/index.html", "shop/_search_results.html", query=query.strip(), books=books
    )


@blueprint.get("/books/<book_id>")
async def book(book_id: str) -> Response:
    """A book's own page: cover, description, price, the ways to buy it, its schema.org data."""
    book = find_book(book_id)
    settings: Settings = current_app.extensions["settings"]
    page_url = absolute_url(url_for("shop.book", book_id=book.id))
    cover_url = absolute_url(url_for("shop.cover", book_id=book.id))
    return await render(
        "shop/book.html",
        book=book,
        canonical_url=page_url,
        structured_data=book_data(book, page_url, cover_url, settings.currency),
    )


@blueprint.get("/covers/<book_id>.svg")
async def cover(book_id: str) -> Response:
    """A generated cover: the book's title and author on a colour picked from its id."""
    book = default_catalog().get(book_id)
    if book is None:
        raise NotFound("There is no cover for that book.")
    hue = int(hashlib.sha256(book.id.encode()).hexdigest()[:4], 16) % 360
    svg = await render_template(
        "shop/cover.svg",
        book=book,
        hue=hue,
        title_lines=textwrap.wrap(book.title, 16)[:5],
        author_lines=textwrap.wrap(book.author, 22)[:2],
    )
    response = Response(svg, content_type="image/svg+xml; charset=utf-8")
    response.cache_control.public = True
    response.cache_control.max_age = 86400 if not current_app.debug else 0
    return response
