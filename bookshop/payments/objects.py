"""The shop's types for Stripe's objects, and the one reading of each from Stripe's JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast

from bookshop.address import Address
from bookshop.basket import lines_key

Outcome = Literal["succeeded", "declined", "needs_action", "processing", "open", "canceled"]

CONFIRMATION_TOKEN = re.compile(r"^ctoken_[A-Za-z0-9]{1,64}$")
CLIENT_SECRET = re.compile(r"^(pi_[A-Za-z0-9]{1,64})_secret_[A-Za-z0-9]{1,128}$")
PAYABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
# An order's lines ride in the intent's metadata, "<book>:<quantity>:<unit price>" joined by
# commas, split over lines_1, lines_2, ... since Stripe allows 500 characters a value and 50 keys.
LINE = re.compile(r"^([a-z0-9-]{1,100}):([1-9][0-9]?):([0-9]{1,9})$")
LINES_KEYS = tuple(f"lines_{n}" for n in range(1, 6))
MAX_METADATA_VALUE = 500


@dataclass(frozen=True)
class IntentLine:
    """One line of the order an intent pays for: a book, how many, and the unit price charged."""

    book_id: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class Refund:
    """One refund of a charge, as a staff order page lists it."""

    id: str
    amount: int
    created: int
    status: str  # succeeded (a card refund, at once in test mode), pending, failed, canceled
    # Why: the shop's own words (metadata `reason`), else Stripe's reason (`duplicate`,
    # `fraudulent`, `requested_by_customer`), else None (one made in Stripe's dashboard).
    reason: str | None


@dataclass(frozen=True)
class Charge:
    """A PaymentIntent's latest charge: what the receipt shows and the ledger keeps."""

    id: str
    amount: int
    currency: str
    amount_refunded: int
    refunded: bool
    card_brand: str
    card_last4: str
    email: str | None
    receipt_url: str | None
    # Newest first, when Stripe sent them: a charge carries its refunds only when they are
    # expanded (`latest_charge.refunds`), and then the first page only (Stripe's ten newest).
    refunds: tuple[Refund, ...] = ()


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent as the shop reads it, from an answer, an event or a list alike."""

    id: str
    status: str
    amount: int
    currency: str
    created: int
    client_secret: str  # "" where Stripe leaves it out
    # What it pays for; none when the intent is not one of the shop's checkouts.
    lines: tuple[IntentLine, ...]
    checkout_id: str  # the browser session's checkout that made it ("" when unknown)
    shipping: int  # what delivery costs, in the amount (0 when free, or not said)
    address: Address | None  # where the books go (Stripe's `shipping`)
    email: str | None
    # The last failed attempt's most specific code: decline_code, else code.
    decline_code: str | None
    charge_id: str | None
    charge: Charge | None = None  # only when `latest_charge` came expanded

    @property
    def lines_key(self) -> str:
        """The lines as one string, as `Basket.key` writes them."""
        return lines_key((x.book_id, x.quantity, x.unit_price) for x in self.lines)

    @property
    def payable(self) -> bool:
        """True while the shopper can still pay (or retry) on this intent."""
        return self.status in PAYABLE

    @property
    def changeable(self) -> bool:
        """True until the shopper confirms it: what it pays for may still change. Once they have
        (3D Secure under way, processing, paid) it pays for what they confirmed."""
        return self.status == "requires_payment_method"

    @property
    def outcome(self) -> Outcome:
        """Where the payment stands, in the shop's words."""
        if self.status in ("succeeded", "processing", "canceled"):
            return cast(Outcome, self.status)
        if self.status == "requires_action":
            return "needs_action"
        return "declined" if self.decline_code else "open"


@dataclass(frozen=True)
class ConfirmationToken:
    """What the browser's Payment Element made of the card: single use, short lived. The shop
    reads it before confirming, to refuse one that is spent or would ship elsewhere."""

    id: str
    expires_at: int
    used: bool  # an intent (or setup intent) has consumed it
    address: Address | None  # the delivery address it would write onto the intent


@dataclass(frozen=True)
class WebhookEvent:
    """A verified Stripe event, reduced to what the ledger acts on."""

    id: str
    type: str
    created: int
    intent_id: str | None
    intent: Intent | None = None
    charge_id: str | None = None
    amount_refunded: int = 0
    refunded: bool = False


def read_intent(data: Mapping[str, Any]) -> Intent:
    """The one reading of a PaymentIntent's JSON (a response, an event's object, a list item)."""
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    error = data.get("last_payment_error")
    if not isinstance(error, Mapping):
        error = {}
    latest = data.get("latest_charge")
    charge = _read_charge(latest) if isinstance(latest, Mapping) else None
    shipping = str(metadata.get("shipping") or "")
    where = data.get("shipping")
    return Intent(
        id=str(data["id"]),
        status=str(data["status"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        created=int(data.get("created") or 0),
        client_secret=str(data.get("client_secret") or ""),
        lines=_read_lines(metadata, int(data["amount"])),
        checkout_id=str(metadata.get("checkout") or ""),
        shipping=int(shipping) if shipping.isascii() and shipping.isdigit() else 0,
        address=Address.from_stripe(where) if isinstance(where, Mapping) else None,
        email=data.get("receipt_email") or (charge.email if charge else None),
        decline_code=error.get("decline_code") or error.get("code") or None,
        charge_id=charge.id if charge else (str(latest) if latest else None),
        charge=charge,
    )


def read_confirmation_token(data: Mapping[str, Any]) -> ConfirmationToken:
    """The one reading of a ConfirmationToken's JSON."""
    shipping = data.get("shipping")
    return ConfirmationToken(
        id=str(data["id"]),
        expires_at=int(data.get("expires_at") or 0),
        used=bool(data.get("payment_intent") or data.get("setup_intent")),
        address=Address.from_stripe(shipping) if isinstance(shipping, Mapping) else None,
    )


def lines_metadata(lines_key: str) -> dict[str, str]:
    """Metadata that carries an order's lines; every lines_N key is set, "" deleting the unused."""
    chunks: list[str] = []
    for entry in lines_key.split(",") if lines_key else []:
        if chunks and len(chunks[-1]) + 1 + len(entry) <= MAX_METADATA_VALUE:
            chunks[-1] += "," + entry
        else:
            chunks.append(entry)
    if len(chunks) > len(LINES_KEYS):
        raise ValueError("too many lines for the intent's metadata")
    return {key: chunks[n] if n < len(chunks) else "" for n, key in enumerate(LINES_KEYS)}


def _read_lines(metadata: Mapping[str, Any], amount: int) -> tuple[IntentLine, ...]:
    entries = ",".join(str(metadata[key]) for key in LINES_KEYS if metadata.get(key))
    if entries:
        lines = []
        for entry in entries.split(","):
            match = LINE.match(entry)
            if match is None:
                return ()  # not written by the shop: no lines rather than wrong ones
            book_id, quantity, unit_price = match.groups()
            lines.append(IntentLine(book_id, int(quantity), int(unit_price)))
        return tuple(lines)
    # Made before the cart: one book and a quantity, the amount being their price.
    book_id, quantity = str(metadata.get("book") or ""), str(metadata.get("quantity") or "")
    if book_id and quantity.isascii() and quantity.isdigit() and int(quantity) > 0:
        return (IntentLine(book_id, int(quantity), amount // int(quantity)),)
    return ()


def _read_charge(data: Mapping[str, Any]) -> Charge:
    details = data.get("payment_method_details")
    card = details.get("card") if isinstance(details, Mapping) else None
    if not isinstance(card, Mapping):
        card = {}
    return Charge(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        amount_refunded=int(data.get("amount_refunded") or 0),
        refunded=bool(data.get("refunded")),
        card_brand=str(card.get("brand") or "card"),
        card_last4=str(card.get("last4") or ""),
        email=data.get("receipt_email") or None,
        receipt_url=data.get("receipt_url") or None,
        refunds=_read_refunds(data.get("refunds")),
    )


def _read_refunds(refunds: Any) -> tuple[Refund, ...]:
    # A charge's `refunds` list, present only when expanded; anything else reads as none.
    items = refunds.get("data") if isinstance(refunds, Mapping) else None
    if not isinstance(items, list):
        return ()
    return tuple(read_refund(item) for item in items if isinstance(item, Mapping))


def read_refund(data: Mapping[str, Any]) -> Refund:
    """The one reading of a Refund's JSON."""
    metadata = data.get("metadata")
    reason = metadata.get("reason") if isinstance(metadata, Mapping) else None
    return Refund(
        id=str(data["id"]),
        amount=int(data["amount"]),
        created=int(data.get("created") or 0),
        status=str(data.get("status") or ""),
        reason=str(reason or data.get("reason") or "") or None,
    )


def intent_id_from_secret(client_secret: str) -> str | None:
    """The PaymentIntent id a client secret belongs to, or None when it is malformed."""
    match = CLIENT_SECRET.match(client_secret)
    return match.group(1) if match else None


def read_event(data: Mapping[str, Any]) -> WebhookEvent:
    """A verified event's JSON, reduced to what the ledger acts on."""
    obj = data["data"]["object"]
    event = partial(WebhookEvent, str(data["id"]), str(data["type"]), int(data["created"]))
    if obj.get("object") == "payment_intent":
        intent = read_intent(obj)
        return event(intent_id=intent.id, intent=intent, charge_id=intent.charge_id)
    if obj.get("object") == "charge":
        return event(
            intent_id=obj.get("payment_intent") or None,
            charge_id=str(obj["id"]),
            amount_refunded=int(obj.get("amount_refunded") or 0),
            refunded=bool(obj.get("refunded")),
        )
    return event(intent_id=None)
