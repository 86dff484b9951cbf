"""The shopper's session cookie and everything it holds, each through a typed accessor.

The cookie is signed, so only the shop wrote it; still, a value of another shape reads as absent.
It holds ids and choices, never prices or Stripe's secrets, and stays well under the 4 KB
browsers keep: the largest cart (20 titles with 60-character ids) with the longest address comes
to about 3 KB (`tests/test_session.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import session

CART, ADDRESS, CHECKOUTS, CSRF = "cart", "address", "checkouts", "csrf"
# Checkouts a session remembers: the cart's and the newest buy-now ones (a shopper who paid for
# none of a dozen books bought now loses nothing but the oldest's intent, replaced on its Pay).
MAX_CHECKOUTS = 4


@dataclass
class CheckoutState:
    """What the session remembers of one checkout: its id (in the intent's metadata), once the
    shopper has pressed Pay its PaymentIntent's id, and when a Pay went unanswered (Stripe may
    have charged it: the next Pay looks for that intent before making another)."""

    id: str
    intent_id: str | None = None
    unanswered_since: int | None = None


def cart_entries() -> list[tuple[str, int]]:
    """The cart's lines as (book id, quantity), in the order they were added."""
    stored = session.get(CART) if CART in session else None
    if not isinstance(stored, list):
        return []
    return [
        (entry[0], entry[1])
        for entry in stored
        if isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], int)
        and not isinstance(entry[1], bool)
    ]


def set_cart_entries(entries: list[tuple[str, int]]) -> None:
    """Keep the cart's lines (none: forget the cart)."""
    if entries:
        session[CART] = [[book_id, quantity] for book_id, quantity in entries]
    else:
        session.pop(CART, None)


def address_fields() -> dict[str, str] | None:
    """The delivery address as the address step kept it, field by field."""
    stored = session.get(ADDRESS) if ADDRESS in session else None
    if not isinstance(stored, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in stored.items()
    ):
        return None
    return stored


def set_address_fields(fields: dict[str, str] | None) -> None:
    """Keep the delivery address (None: forget it)."""
    if fields is None:
        session.pop(ADDRESS, None)
    else:
        session[ADDRESS] = fields


def checkout_state(key: str) -> CheckoutState | None:
    """The checkout kept under `key` (the cart's, or a book's bought now), if any."""
    saved = _checkouts().get(key)
    if isinstance(saved, dict) and isinstance(saved.get("id"), str):
        intent_id, since = saved.get("intent"), saved.get("unanswered")
        return CheckoutState(
            saved["id"],
            intent_id if isinstance(intent_id, str) else None,
            since if isinstance(since, int) and not isinstance(since, bool) else None,
        )
    return None


def set_checkout_state(key: str, state: CheckoutState | None) -> None:
    """Remember (or, given None, forget) a checkout; the oldest buy-now ones go past
    MAX_CHECKOUTS."""
    checkouts = {name: saved for name, saved in _checkouts().items() if name != key}
    if state is not None:
        checkouts[key] = {"id": state.id, "intent": state.intent_id}
        if state.unanswered_since is not None:
            checkouts[key]["unanswered"] = state.unanswered_since
        while len(checkouts) > MAX_CHECKOUTS:
            oldest = next(name for name in checkouts if name != CART)
            del checkouts[oldest]
    if checkouts:
        session[CHECKOUTS] = checkouts
    else:
        session.pop(CHECKOUTS, None)


def checkout_keys() -> dict[str, str]:
    """Each checkout this session has open, by its id: the key it is kept under."""
    return {
        saved["id"]: key
        for key, saved in _checkouts().items()
        if isinstance(saved, dict) and isinstance(saved.get("id"), str)
    }


def csrf_secret() -> str | None:
    """The session's CSRF secret (encoded), if it has one yet."""
    stored = session.get(CSRF) if CSRF in session else None
    return stored if isinstance(stored, str) else None


def set_csrf_secret(encoded: str) -> None:
    """Keep the session's CSRF secret."""
    session[CSRF] = encoded


def _checkouts() -> dict[str, Any]:
    stored = session.get(CHECKOUTS) if CHECKOUTS in session else None
    return stored if isinstance(stored, dict) else {}
