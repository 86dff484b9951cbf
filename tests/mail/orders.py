"""Orders for the mail tests, made through the ledger as the shop's paths make them, and the
outbox as the ledger wrote it."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from functools import partial
from typing import Any

from sqlalchemy import select

from bookshop.admin import audit
from bookshop.admin.audit import Actor
from bookshop.mail.schema import outbox
from bookshop.money import format_money
from bookshop.orders import Ledger, Order
from bookshop.orders.staff import Audit, RefundedCopies, StaffRefund
from bookshop.payments import Intent
from tests.orders.intents import BOOK, HOME, PRICE, paid

EMAIL = "ada@example.com"
# One copy of the tests' book, delivered in Singapore for 3.00.
DELIVERY = 300
OWNER = Actor("owner@bookshop.test", "127.0.0.1")


def paid_intent(intent_id: str = "pi_mail1", quantity: int = 1, **changes: Any) -> Intent:
    """A succeeded intent of `quantity` copies delivered to Singapore, paid by EMAIL."""
    amount = PRICE * quantity + DELIVERY
    intent = paid(intent_id, quantity, address=HOME, shipping=DELIVERY, amount=amount)
    assert intent.charge is not None
    charge = replace(intent.charge, amount=amount)
    return replace(intent, charge=charge, **changes)


async def pay(ledger: Ledger, intent_id: str = "pi_mail1", **changes: Any) -> Intent:
    """A paid order, written as the pay step writes its answer."""
    intent = paid_intent(intent_id, **changes)
    await ledger.record_payment(intent)
    return intent


async def order_of(ledger: Ledger, intent_id: str = "pi_mail1") -> Order:
    """The order as the ledger has it."""
    order = await ledger.get(intent_id)
    assert order is not None
    return order


async def outbox_rows(ledger: Ledger) -> list[Any]:
    """Every outbox row, oldest first."""
    async with ledger.database.reading() as connection:
        return list(await connection.execute(select(outbox).order_by(outbox.c.id)))


def writer(ledger: Ledger) -> Audit:
    """The audit entry's writer, as the back office binds it for the owner."""
    return partial(audit.record, database=ledger.database, actor=OWNER)


def refunded(intent: Intent, amount: int) -> Intent:
    """The intent as Stripe has it once `amount` of its charge was refunded in all."""
    assert intent.charge is not None
    charge = replace(intent.charge, amount_refunded=amount, refunded=amount >= intent.amount)
    return replace(intent, charge=charge)


def staff_refund(amount: int, key: str = "refund-1") -> StaffRefund:
    """The owner's refund of one copy (and `amount` in all), as the back office records it."""
    return StaffRefund(
        key=key, amount=amount, reason="damaged in the post", lines=(RefundedCopies(BOOK, BOOK, 1),)
    )


def money(amount: int) -> str:
    """An amount as the emails write it ("10.00 SGD", a no-break space before the code)."""
    return format_money(amount, "sgd")


def text_of(message: EmailMessage) -> str:
    """A message's plain-text body, its lines ending in "\\n"."""
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content()).replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    """A message's HTML body."""
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content()).replace("\r\n", "\n")
