"""The emails to shoppers, written when they are sent from the order as the ledger has it then:
plain text and HTML from templates/mail/, in an `EmailMessage` whose headers cannot be added to.

What shoppers typed reaches a message three ways, each made harmless: in HTML, autoescaped like
a page; in plain text, as typed but with control and invisible characters removed (a line break
in a name cannot fake a line of the message); in a header, through `email.headerregistry`, which
refuses a CR or LF: such a message can never be written, and is given up (`Unwritable`).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from bookshop.address import country_name
from bookshop.config import Settings
from bookshop.mail.schema import CONFIRMATION, REFUNDED, SHIPPED
from bookshop.money import format_money
from bookshop.orders.links import order_url
from bookshop.orders.schema import Order
from bookshop.shipping import default_rates

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"
SUBJECTS = {
    CONFIRMATION: "Your order {number}",
    SHIPPED: "Your order {number} is on its way",
    REFUNDED: "A refund for your order {number}",
}
# Removed from every value a template prints: controls (C0, DEL, C1), formatting characters
# (bidirectional overrides, zero-width ones), line and paragraph separators, lone surrogates.
UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


class Unwritable(Exception):
    """A message that can never be written as it stands (a header refused what it would hold):
    given up at once rather than tried again."""


@dataclass(frozen=True)
class Outgoing:
    """One outbox message as the sender took it: what to write, and to whom."""

    id: int
    intent_id: str
    kind: str
    key: str
    recipient: str
    payload: dict[str, Any]
    attempts: int = 0  # made before this one


def printable(value: Any) -> Any:
    """A value as a template prints it: text without control or invisible characters (HTML the
    template marked safe is left as it is)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    if value.isascii() and value.isprintable():
        return value
    return "".join(char for char in value if unicodedata.category(char) not in UNPRINTABLE)


def message_id(outgoing: Outgoing, mail_from: str) -> str:
    """The message's Message-ID: the same on every attempt to send it (a retry, or the repeat
    after a crash, reads as the same message), unique to the outbox row, on MAIL_FROM's domain."""
    digest = hashlib.sha256(outgoing.key.encode()).hexdigest()[:16]
    domain = mail_from.rpartition("@")[2]
    return f"<{outgoing.kind}.{outgoing.id}.{digest}@{domain}>"


class Messages:
    """Writes the shop's emails with its settings (name, sender, currency, locale, links)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            finalize=printable,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.templates.filters["money"] = self._money

    def write(self, outgoing: Outgoing, order: Order, moment: datetime) -> EmailMessage:
        """The message for an outbox row about `order`, dated `moment`; Unwritable when a
        header refuses what it would hold."""
        context = self.context(outgoing, order)
        message = EmailMessage(policy=SMTP)
        try:
            message["From"] = Address(
                display_name=self.settings.shop_name, addr_spec=self.settings.mail_from
            )
            message["To"] = Address(
                display_name=order.address.name if order.address else "",
                addr_spec=outgoing.recipient,
            )
        except (ValueError, LookupError, MessageError) as refused:
            raise Unwritable(
                f"the shopper's name or email cannot be a mail header ({refused})"
            ) from None
        message["Subject"] = SUBJECTS[outgoing.kind].format(number=order.number)
        message["Date"] = format_datetime(moment)
        message["Message-ID"] = message_id(outgoing, self.settings.mail_from)
        # Automatic mail (RFC 3834): out-of-office replies are not sent back to it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.templates.get_template(f"{outgoing.kind}.txt").render(context))
        html = self.templates.get_template(f"{outgoing.kind}.html").render(context)
        message.add_alternative(html, subtype="html")
        return message

    def context(self, outgoing: Outgoing, order: Order) -> dict[str, Any]:
        """What the templates read: the order and what is said of it."""
        address = order.address
        zone = default_rates().zone(address.country) if address is not None else None
        where = []
        if address is not None:
            where = [*address.lines()[:-1], country_name(address.country, self.settings.locale)]
        return {
            "shop_name": self.settings.shop_name,
            "order": order,
            "number": order.number,
            "link": order_url(self.settings, order.number),
            "books": sum(line.total for line in order.lines),
            "address": [line for line in where if line],
            "delivery_time": zone.delivery if zone is not None else None,
            "refunded": outgoing.payload.get("refunded", 0),
            "amount_refunded": outgoing.payload.get("amount_refunded", order.amount_refunded),
        }

    def _money(self, amount: int, currency: str) -> str:
        return format_money(amount, currency, self.settings.locale)
