"""The shop front: the book grid a page at a time, with search and sort, each book's page, and the
book covers."""

from __future__ import annotations

import hashlib
import textwrap
from typing import Any

from quart import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.catalog import SORTS, catalog
from bookshop.catalog.store import RELEVANCE, TITLE
from bookshop.config import Settings
from bookshop.forms import find_book, whole_number
from bookshop.htmx import wants_fragment
from bookshop.pages import absolute_url, render
from bookshop.security import policy
from bookshop.seo import book_data
from bookshop.stock.availability import availabilities

blueprint = Blueprint("shop", __name__)

MAX_QUERY_LENGTH = 100
# Deeper than any catalog of a million books goes; a longer number is a mistyped URL.
MAX_PAGE_DIGITS = 6
# The sort select: its first choice sends no sort, so a search is ranked and the grid is by title.
SORT_CHOICES = {
    "": "Best match",
    TITLE: "Title",
    "price": "Price, lowest first",
    "newest": "Newest",
}


@blueprint.get("/")
@policy()
async def index() -> Response:
    """The shop: the search form and a page of the grid of (matching) books. For htmx, a search
    swaps the grid and "More books" appends the next page's books to it."""
    query = request.args.get("q", "").strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise BadRequest(f"Searches can be at most {MAX_QUERY_LENGTH} characters long.")
    chosen = request.args.get("sort", "")
    sort = chosen or (RELEVANCE if query else TITLE)
    if sort not in SORTS:
        raise BadRequest(f"Books can be sorted by {', '.join(SORTS)}.")
    number = whole_number(request.args.get("page", "1"), MAX_PAGE_DIGITS)
    if not number:
        raise BadRequest("The page must be a whole number, 1 or more.")
    page = await catalog().page(number, sort, query)
    if not page.books and number > 1:
        raise NotFound(f"There is no page {number}: the books end sooner.")
    context: dict[str, Any] = {
        "query": query,
        "sort": chosen,
        "sorts": SORT_CHOICES,
        "page": page,
        # What is left of each counted book on the page: one stock query for all of them.
        "availabilities": await availabilities(book.id for book in page.books),
        # The links' arguments: the pages build each URL once (pages.py) and remember it.
        "next_page": _page_args(query, sort, number + 1) if page.has_next else None,
        "previous_page": _page_args(query, sort, number - 1) if number > 1 else None,
        "canonical_page": _page_args("", TITLE, number),
    }
    if number > 1 and wants_fragment():
        # "More books": this page's books, appended to the grid, and the link to the next.
        return await render("shop/index.html", "shop/_next_page.html", **context)
    response = await render("shop/index.html", "shop/_search_results.html", **context)
    if wants_fragment():
        # The address bar shows the search as a link would name it (no empty `sort=`).
        htmx.push_url(response, url_for("shop.index", **_page_args(query, sort, number)))
    return response


def _page_args(query: str, sort: str, number: int) -> dict[str, Any]:
    # The query of the shop's URL for a page of the grid: only what differs from the defaults.
    args: dict[str, Any] = {}
    if query:
        args["q"] = query
    if sort != (RELEVANCE if query else TITLE):
        args["sort"] = sort
    if number > 1:
        args["page"] = number
    return args


@blueprint.get("/books/<book_id>")
@policy()
async def book(book_id: str) -> Response:
    """A book's own page: cover, description, price, what is left of it, the ways to buy it,
    its schema.org data."""
    book = await find_book(book_id)
    settings: Settings = current_app.extensions["settings"]
    page_url = absolute_url(url_for("shop.book", book_id=book.id))
    cover_url = absolute_url(url_for("shop.cover", book_id=book.id))
    availability = (await availabilities([book.id])).get(book.id)
    return await render(
        "shop/book.html",
        book=book,
        availability=availability,
        canonical_url=page_url,
        structured_data=book_data(book, page_url, cover_url, settings.currency, availability),
    )


@blueprint.get("/covers/<book_id>.svg")
@policy()
async def cover(book_id: str) -> Response:
    """A generated cover: the book's title and author on a colour picked from its id."""
    book = await catalog().get(book_id)
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
