"""Checkout: the summary of one book at a chosen quantity, and the quantity form."""

from __future__ import annotations

from quart import Blueprint, Response, redirect, request, url_for
from werkzeug.exceptions import BadRequest, NotFound, UnprocessableEntity
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop.catalog import Book, default_catalog
from bookshop.htmx import render, wants_fragment

blueprint = Blueprint("checkout", __name__)

MIN_QUANTITY = 1
MAX_QUANTITY = 10


def parse_quantity(raw: str | None) -> int:
    """A quantity from a form or query: 400 when not a number, 422 when outside 1-10."""
    if raw is None or raw.strip() == "":
        return MIN_QUANTITY
    text = raw.strip()
    if not text.isdigit() or len(text) > 3:
        raise BadRequest("The quantity must be a whole number.")
    quantity = int(text)
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise UnprocessableEntity(
            f"You can buy from {MIN_QUANTITY} to {MAX_QUANTITY} copies of a book at a time."
        )
    return quantity


def find_book(book_id: str) -> Book:
    """The catalog's book, or a 404 that says so."""
    book = default_catalog().get(book_id)
    if book is None:
        raise NotFound("We don't sell that book (or the link is wrong).")
    return book


@blueprint.get("/checkout")
async def legacy_checkout() -> WerkzeugResponse:
    """The starter's `/checkout?item=<id>` URL, kept working for old links."""
    item = request.args.get("item", "")
    book = find_book(item)
    return redirect(url_for("checkout.page", book_id=book.id), code=301)


@blueprint.get("/checkout/<book_id>")
async def page(book_id: str) -> Response:
    """The checkout page for one book."""
    book = find_book(book_id)
    quantity = parse_quantity(request.args.get("quantity"))
    return await render_summary(book, quantity)


@blueprint.post("/checkout/<book_id>/quantity")
async def change_quantity(book_id: str) -> Response | WerkzeugResponse:
    """Change the quantity: the new summary for htmx, a redirect (303) to the page otherwise."""
    book = find_book(book_id)
    form = await request.form
    quantity = parse_quantity(form.get("quantity"))
    page_url = url_for("checkout.page", book_id=book.id, quantity=quantity)
    if not wants_fragment():
        return redirect(page_url, code=303)
    response = await render_summary(book, quantity)
    # Keep the address bar in step, so a reload shows the same quantity.
    response.headers["HX-Replace-Url"] = page_url
    return response


async def render_summary(book: Book, quantity: int) -> Response:
    """The checkout page, or just its summary for htmx."""
    return await render(
        "checkout/page.html",
        "checkout/_summary.html",
        book=book,
        quantity=quantity,
        quantities=range(MIN_QUANTITY, MAX_QUANTITY + 1),
        total=book.price * quantity,
    )
