"""PaymentIntents as the ledger's callers read them (the checkout, the pay step, the result
page, webhooks, reconcile), for the ledger's tests."""

from __future__ import annotations

from dataclasses import replace

from bookshop.address import Address
from bookshop.orders import Order
from bookshop.payments import Charge, Intent, IntentLine, WebhookEvent
from tests.fixtures.app import SINGAPORE

BOOK, PRICE = "code", 3200
# Where the shop checked the books go, and where a confirmation it did not make sent them.
HOME = Address(**SINGAPORE)
ELSEWHERE = replace(HOME, name="Mallory", line1="9 Other Road", line2="")


def intent(intent_id: str = "pi_ledger1", quantity: int = 1, **changes: object) -> Intent:
    """A checkout's intent for `quantity` copies of one book, unpaid, as the pay step reads it."""
    base = Intent(
        id=intent_id,
        status="requires_payment_method",
        amount=PRICE * quantity,
        currency="sgd",
        created=1_800_000_000,
        client_secret=f"{intent_id}_secret_x",
        lines=(IntentLine(BOOK, quantity, PRICE),),
        checkout_id="c1",
        shipping=0,
        address=None,
        email=None,
        decline_code=None,
        charge_id=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def state(
    intent_id: str = "pi_ledger1", status: str = "succeeded", quantity: int = 1, **changes: object
) -> Intent:
    """The intent as Stripe reports it."""
    base = intent(
        intent_id,
        quantity,
        status=status,
        charge_id="ch_1" if status == "succeeded" else None,
        email="ada@example.com",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def paid(intent_id: str = "pi_ledger1", quantity: int = 1, **changes: object) -> Intent:
    """A succeeded intent read with its charge, as the result page and reconcile read it."""
    charge = Charge(
        id="ch_9",
        amount=PRICE * quantity,
        currency="sgd",
        amount_refunded=0,
        refunded=False,
        card_brand="visa",
        card_last4="4242",
        email=None,
        receipt_url=None,
    )
    return state(intent_id, quantity=quantity, charge_id="ch_9", charge=charge, **changes)


def copies(order: Order) -> int:
    """How many copies the order's one line holds."""
    (line,) = order.lines
    return line.quantity


def event(event_id: str, kind: str, intent_state: Intent, created: int) -> WebhookEvent:
    """A verified payment_intent.* event."""
    return WebhookEvent(
        id=event_id,
        type=kind,
        created=created,
        intent_id=intent_state.id,
        intent=intent_state,
        charge_id=intent_state.charge_id,
    )


def refund_event(
    event_id: str, intent_id: str, amount: int, created: int = 1_800_000_000
) -> WebhookEvent:
    """A verified charge.refunded event (full when `amount` is the whole of PRICE)."""
    return WebhookEvent(
        id=event_id,
        type="charge.refunded",
        created=created,
        intent_id=intent_id,
        charge_id="ch_1",
        amount_refunded=amount,
        refunded=amount >= PRICE,
    )
