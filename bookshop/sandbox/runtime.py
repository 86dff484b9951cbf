"""The sandbox's live state, shared by its blueprints through the app."""

from __future__ import annotations

from dataclasses import dataclass, field

from quart import current_app

from bookshop.sandbox.faults import Faults
from bookshop.sandbox.idempotency import IdempotencyCache
from bookshop.sandbox.mail import Mailbox
from bookshop.sandbox.settings import SandboxSettings
from bookshop.sandbox.store import Store
from bookshop.sandbox.webhooks import Dispatcher


@dataclass
class SandboxState:
    """Everything one running sandbox holds; a restart starts clean."""

    settings: SandboxSettings
    store: Store
    faults: Faults
    idempotency: IdempotencyCache
    dispatcher: Dispatcher
    # The mail caught by the SMTP server (empty when it runs none).
    mailbox: Mailbox = field(default_factory=Mailbox)
    # The port the SMTP server listens on, on the settings' host; None when it runs none.
    smtp_port: int | None = None


def state() -> SandboxState:
    """The current app's sandbox state."""
    result: SandboxState = current_app.extensions["sandbox"]
    return result
