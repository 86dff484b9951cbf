"""Steps the checkout's tests share: reading a payment's references off the shop's answers,
running 3D Secure as Stripe.js would, and the address step taken in another tab."""

from __future__ import annotations

import re

import httpx
from quart import Quart, Response

from bookshop.orders import Order
from tests.fixtures.app import HTMX, SINGAPORE, Client, post
from tests.fixtures.paying import THREE_D_SECURE, press_pay
from tests.fixtures.sandbox import SandboxServer

# The rest of the world's zone: 18.00 SGD for the first book, 5.00 SGD for each further one.
LONDON = {"city": "London", "postal_code": "N1 9GU", "country": "GB", "line2": ""}


def pushed_intent(response: Response) -> str:
    """The PaymentIntent a receipt answer names in the URL it pushes (htmx)."""
    found = re.search(r"payment_intent=(pi_[A-Za-z0-9]+)&", response.headers["HX-Push-Url"])
    assert found, "the receipt pushes its own URL"
    return found[1]


def client_secret_of(sandbox: SandboxServer, intent_id: str) -> str:
    """An intent's client secret, as the shop reads it with the secret key."""
    secret = sandbox.client().v1.payment_intents.retrieve(intent_id).client_secret
    assert secret
    return str(secret)


def result_query(intent_id: str, secret: str) -> str:
    """The query string of a payment's result URLs."""
    return f"payment_intent={intent_id}&payment_intent_client_secret={secret}"


async def start_3d_secure(
    client: Client,
    sandbox: SandboxServer,
    page_url: str,
    *,
    page: str | None = None,
    headers: dict[str, str] | None = HTMX,
) -> tuple[str, str]:
    """Press Pay with a card whose bank asks for 3D Secure and leave the challenge open: the
    intent and the client secret the pay step hands Stripe.js for it."""
    asked = await press_pay(client, sandbox, page_url, THREE_D_SECURE, page=page, headers=headers)
    body = await asked.get_data(as_text=True)
    assert asked.status_code == 200 and "data-next-action" in body, body
    found = re.search(r'data-client-secret="((pi_[A-Za-z0-9]+)_secret_[^"]+)"', body)
    assert found, "the 3D Secure answer carries the client secret for Stripe.js"
    return found[2], found[1]


def approve_3d_secure(sandbox: SandboxServer, intent_id: str, secret: str) -> None:
    """The shopper approves the bank's challenge (what Stripe.js's next action does)."""
    approved = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent_id}",
        data={"client_secret": secret, "result": "approve"},
        timeout=10,
    )
    assert approved.status_code == 200, approved.text


async def paid_but_never_seen(
    app: Quart, client: Client, sandbox: SandboxServer, page_url: str
) -> tuple[str, str]:
    """A checkout paid (3D Secure approved, the ledger told by a webhook) whose result the shopper
    never saw: the tab closed before it. The intent and its client secret."""
    intent_id, secret = await start_3d_secure(client, sandbox, page_url)
    approve_3d_secure(sandbox, intent_id, secret)
    intent = await app.extensions["payments"].intent(intent_id)
    assert intent.status == "succeeded"
    await app.extensions["ledger"].mark_paid(intent)
    return intent_id, secret


async def move_to(client: Client, **address: str) -> None:
    """The shopper gives another address on the address step (in another tab)."""
    form = {**SINGAPORE, **address, "next": "/checkout"}
    response = await post(client, "/checkout/address", form)
    assert response.status_code == 303, await response.get_data(as_text=True)


def quantities(order: Order) -> list[int]:
    """How many of each book an order's lines hold."""
    return [line.quantity for line in order.lines]


def books_in(body: str) -> list[str]:
    """The books an order summary lists, in order."""
    return re.findall(r'class="order-line[^"]*" data-book="([^"]+)"', body)


def quantity_sent(page: str) -> str:
    """The quantity checkout.js sends with the pay step: the page's `#quantity` (a select, or a
    hidden input on a read-only summary), else "1"."""
    match = re.search(r'<input type="hidden" id="quantity" value="(\d+)">', page) or re.search(
        r'<option value="(\d+)" selected>', page
    )
    return match.group(1) if match else "1"
