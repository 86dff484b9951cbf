"""The mail the sandbox has caught: each message parsed once, the newest 500 kept in memory."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.errors import MessageError
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from bookshop.sandbox import objects

MAX_MESSAGES = 500
# Links a message's plain text offers, up to the first space or bracket around them.
TEXT_LINK = re.compile(r"https?://[^\s<>\"'()\[\]]+")
# What a damaged header or part can raise while the stdlib parses it on access.
PARSE_ERRORS = (MessageError, LookupError, UnicodeError, ValueError, IndexError, TypeError)


@dataclass(frozen=True)
class CaughtMessage:
    """One message as the SMTP server received it: the envelope, the headers and the bodies."""

    id: str
    received: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    sender: str
    to: str
    date: str
    message_id: str
    text: str | None
    html: str | None
    headers: tuple[tuple[str, str], ...]
    raw: bytes

    def as_json(self) -> dict[str, Any]:
        """The message as `/_sandbox/mail` lists it."""
        return {
            "id": self.id,
            "received": self.received,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": self.subject,
            "from": self.sender,
            "to": self.to,
            "date": self.date,
            "message_id": self.message_id,
            "text": self.text,
            "html": self.html,
            "headers": [list(pair) for pair in self.headers],
        }

    def links(self) -> list[str]:
        """The http(s) links in the message, in order, each once: what a reader would follow."""
        found = TEXT_LINK.findall(self.text or "")
        if self.html:
            collector = _LinkCollector()
            collector.feed(self.html)
            collector.close()
            found += collector.links
        return list(dict.fromkeys(link.rstrip(".,;:!?") for link in found))


def parse(raw: bytes, mail_from: str, rcpt_tos: list[str], received: float) -> CaughtMessage:
    """A received message, parsed as the shop's mail is written (`email.policy.default`)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # what policy.default makes
    return CaughtMessage(
        id=objects.new_id("msg", 14),
        received=int(received),
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        to=_header(message, "To"),
        date=_header(message, "Date"),
        message_id=_header(message, "Message-ID"),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        headers=tuple(_headers(message)),
        raw=raw,
    )


class Mailbox:
    """The newest MAX_MESSAGES messages, by id; the oldest go first when it is full."""

    def __init__(self, size: int = MAX_MESSAGES) -> None:
        self.size = size
        self._messages: OrderedDict[str, CaughtMessage] = OrderedDict()

    def keep(self, message: CaughtMessage) -> None:
        """Add a message, forgetting the oldest past `size`."""
        self._messages[message.id] = message
        while len(self._messages) > self.size:
            self._messages.popitem(last=False)

    def receive(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> CaughtMessage:
        """Parse and keep a message the SMTP server has just accepted."""
        message = parse(raw, mail_from, rcpt_tos, time.time())
        self.keep(message)
        return message

    def get(self, message_id: str) -> CaughtMessage | None:
        """The message with this id, if still kept."""
        return self._messages.get(message_id)

    def recent(self, count: int | None = None) -> list[CaughtMessage]:
        """The newest messages first."""
        newest = list(reversed(self._messages.values()))
        return newest if count is None else newest[:count]

    def clear(self) -> int:
        """Forget every message; how many there were."""
        count = len(self._messages)
        self._messages.clear()
        return count

    def __len__(self) -> int:
        return len(self._messages)


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value ("" when absent); its raw text if it will not decode."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except PARSE_ERRORS:
        return _raw_header(message, name)


def _raw_header(message: EmailMessage, name: str) -> str:
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _headers(message: EmailMessage) -> list[tuple[str, str]]:
    """Every header in order, decoded where it can be."""
    pairs = []
    for name, value in message.raw_items():
        try:
            shown = str(message.policy.header_fetch_parse(name, str(value)))
        except PARSE_ERRORS:
            shown = str(value)
        pairs.append((name, shown))
    return pairs


def _body(message: EmailMessage, subtype: str) -> str | None:
    """The message's text/plain or text/html body as text, None when it has none."""
    try:
        part = message.get_body(preferencelist=(subtype,))
    except PARSE_ERRORS:
        return None
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    try:
        content = part.get_content()
    except PARSE_ERRORS:
        # An unknown or wrong charset: show what arrived rather than nothing.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    # SMTP carries lines ending in CRLF; the text as it was written ends them in LF.
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


class _LinkCollector(HTMLParser):
    """The http(s) targets of an HTML body's links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        for name, value in attrs:
            if name == "href" and value and value.strip().lower().startswith(("http:", "https:")):
                self.links.append(value.strip())
