"""The address step: where the books go, checked for their country, kept until paid."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import parse_qsl, urlsplit

from quart import Response, current_app, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers.response import Response as WerkzeugResponse

from bookshop import htmx
from bookshop.address import (
    country_choices,
    read_form,
    required_fields,
    save_address,
    saved_address,
    uses_state,
)
from bookshop.basket import MAX_QUANTITY, MIN_QUANTITY
from bookshop.catalog import catalog
from bookshop.checkout.blueprint import blueprint
from bookshop.config import Settings
from bookshop.forms import whole_number
from bookshop.pages import render
from bookshop.security import policy
from bookshop.shipping import default_rates


@blueprint.get("/checkout/address")
@policy(private=True)
async def address() -> Response:
    """Where the books go: the address form, filled with the session's address if it has one."""
    saved = saved_address(default_rates())
    values = asdict(saved) if saved is not None else {}
    return await render_address(values, {}, await next_url(request.args.get("next")))


@blueprint.post("/checkout/address")
@policy(private=True)
async def save_delivery_address() -> Response | WerkzeugResponse:
    """Check the address: messages beside each field (422) or on to the checkout (303)."""
    form = await request.form
    target = await next_url(form.get("next"))
    settings: Settings = current_app.extensions["settings"]
    checked = read_form(form, default_rates(), settings.locale)
    if form.get("refresh"):
        # The country changed: the form for that country, no messages yet (a form that showed
        # a state field sent one, empty or not).
        return await render_address(checked.values, {}, target, shown_state="state" in form)
    if checked.address is None:
        return await render_address(checked.values, checked.errors, target, status=422)
    save_address(checked.address)
    if htmx.wants_fragment():
        return htmx.redirect(Response(status=204), target)
    return redirect(target, code=303)


async def next_url(raw: str | None) -> str:
    """Where the address step leads: a checkout of this shop (the cart's by default), never
    another site. `url_for` puts back the root path the shop is served under."""
    parts = urlsplit(raw or "")
    root = request.root_path.rstrip("/")
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{root}/checkout"):
        return url_for("checkout.cart")
    try:
        path = parts.path.removeprefix(root)
        endpoint, values = current_app.url_map.bind("").match(path, method="GET")
    except (HTTPException, RequestRedirect):
        return url_for("checkout.cart")
    if endpoint == "checkout.page" and await catalog().get(values["book_id"]) is not None:
        quantity = whole_number(dict(parse_qsl(parts.query)).get("quantity"), 3)
        if quantity is not None and MIN_QUANTITY <= quantity <= MAX_QUANTITY:
            return url_for(endpoint, book_id=values["book_id"], quantity=quantity)
        return url_for(endpoint, book_id=values["book_id"])
    return url_for("checkout.cart")


async def render_address(
    values: dict[str, str],
    errors: dict[str, str],
    target: str,
    status: int = 200,
    shown_state: bool | None = None,
) -> Response:
    """The address step, or just its form for htmx. `shown_state`: whether the form this one
    replaces had a state field (htmx then says when it comes or goes)."""
    settings: Settings = current_app.extensions["settings"]
    country = values.get("country", "")
    return await render(
        "checkout/address.html",
        "checkout/_address_form.html",
        status=status,
        values=values,
        errors=errors,
        next=target,
        countries=country_choices(default_rates(), settings.locale),
        uses_state=uses_state(country),
        shown_state=shown_state,
        required=required_fields(country),
    )
