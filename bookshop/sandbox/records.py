"""What the sandbox keeps: each kind of object in a Collection, the events, and who is listening.

`Records` is the base of the Store: the state every part of it (payment methods, confirmation
tokens, payment intents, charges and refunds, each in its own module) reads and changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bookshop.sandbox import cards, objects
from bookshop.sandbox.objects import JSON
from bookshop.sandbox.settings import DEFAULT_CONFIRMATION_TOKEN_LIFETIME_S


@dataclass(frozen=True)
class RequestContext:
    """Who asked: recorded on events and used to shape responses."""

    request_id: str | None
    idempotency_key: str | None = None
    origin: str = "http://127.0.0.1:12111"


@dataclass
class Collection:
    """Objects of one kind, in creation order, with O(1) lookup by id."""

    items: list[JSON] = field(default_factory=list)
    by_id: dict[str, JSON] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)

    def add(self, obj: JSON) -> JSON:
        """Keep a new object."""
        self.position[obj["id"]] = len(self.items)
        self.items.append(obj)
        self.by_id[obj["id"]] = obj
        return obj

    def get(self, object_id: str) -> JSON | None:
        """The object with this id, if any."""
        return self.by_id.get(object_id)

    def recent(self, count: int) -> list[JSON]:
        """The newest objects first."""
        return self.items[::-1][:count]


@dataclass(frozen=True)
class PendingMethod:
    """What a ConfirmationToken will pay with, until a confirmation makes it a PaymentMethod: an
    existing PaymentMethod, or card details (as a PaymentMethod keeps them) and billing details."""

    method_id: str | None = None
    details: cards.CardDetails | None = None
    billing: JSON | None = None
    metadata: JSON | None = None


EventListener = Callable[[JSON], None]


class Records:
    """The state the Store's parts share: what each kind of object is, by id, and the events."""

    def __init__(
        self, confirmation_token_lifetime_s: int = DEFAULT_CONFIRMATION_TOKEN_LIFETIME_S
    ) -> None:
        self.payment_intents = Collection()
        self.charges = Collection()
        self.payment_methods = Collection()
        self.confirmation_tokens = Collection()
        self.refunds = Collection()
        self.events = Collection()
        # Seconds from a ConfirmationToken's creation to its `expires_at` (changeable at run time
        # through /_sandbox/confirmation_tokens, for tests that need a token to expire).
        self.confirmation_token_lifetime_s = confirmation_token_lifetime_s
        # Card details behind each PaymentMethod, and what each unused ConfirmationToken will pay
        # with: never part of any object the API returns.
        self._card_numbers: dict[str, cards.CardDetails] = {}
        self._pending_methods: dict[str, PendingMethod] = {}
        self._charges_by_intent: dict[str, list[str]] = {}
        self._refunds_by_charge: dict[str, list[str]] = {}
        self.listeners: list[EventListener] = []

    def emit(self, event_type: str, obj: JSON, ctx: RequestContext) -> JSON:
        """Record an event holding a snapshot of `obj` and hand it to the listeners."""
        event = objects.event(event_type, obj, ctx.request_id, ctx.idempotency_key)
        self.events.add(event)
        for listener in self.listeners:
            listener(event)
        return event

    def find(self, object_id: str) -> JSON | None:
        """Any object the sandbox keeps, by its id."""
        for collection in (
            self.payment_intents,
            self.charges,
            self.payment_methods,
            self.confirmation_tokens,
            self.refunds,
            self.events,
        ):
            found = collection.get(object_id)
            if found is not None:
                return found
        return None
