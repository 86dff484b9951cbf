"""The owner's page of the audit log: every staff action, newest first, a page at a time, all of
it or one subject's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import Response, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from bookshop import htmx
from bookshop.admin import audit
from bookshop.admin.blueprint import blueprint
from bookshop.admin.schema import OWNER
from bookshop.admin.sessions import accounts
from bookshop.forms import whole_number
from bookshop.pages import render
from bookshop.security import policy

PER_PAGE = 50
# Deeper than any shop's log goes at 50 a page; a longer number is a mistyped URL.
MAX_PAGE_DIGITS = 6
# The audit log's subject column holds no longer one.
MAX_SUBJECT_LENGTH = 300


@dataclass(frozen=True)
class AuditPages:
    """Where a page of the log sits: its number, how many there are, how many entries in all,
    and the query arguments of the pages before and after it (None at either end)."""

    number: int
    pages: int
    total: int
    previous: dict[str, Any] | None
    next: dict[str, Any] | None

    @property
    def first(self) -> int:
        """The position of the page's first entry, counting from the newest."""
        return (self.number - 1) * PER_PAGE + 1

    @property
    def last(self) -> int:
        """The position of the page's last entry."""
        return min(self.number * PER_PAGE, self.total)


@blueprint.get("/audit", endpoint="audit")
@policy(private=True, role=OWNER)
async def audit_log() -> Response:
    """The audit log, newest first, 50 entries a page (`page`), all or one `subject`'s
    ("order pi_…", "staff ada@…"). For htmx, the table alone (and the URL pushed)."""
    subject = request.args.get("subject", "").strip()
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise BadRequest(f"A subject is at most {MAX_SUBJECT_LENGTH} characters long.")
    number = whole_number(request.args.get("page", "1"), MAX_PAGE_DIGITS)
    if not number:
        raise BadRequest("The page must be a whole number, 1 or more.")
    database = accounts().database
    entries, total = await audit.entries(
        database, subject=subject or None, page=number, per_page=PER_PAGE
    )
    pages = max(1, -(-total // PER_PAGE))
    if number > pages:
        raise NotFound(f"There is no page {number} of this log: it ends at page {pages}.")
    response = await render(
        "admin/audit.html",
        "admin/_audit_table.html",
        entries=entries,
        subject=subject,
        audit_pages=AuditPages(
            number,
            pages,
            total,
            _args(subject, number - 1) if number > 1 else None,
            _args(subject, number + 1) if number < pages else None,
        ),
    )
    if htmx.wants_fragment():
        htmx.push_url(response, url_for("admin.audit", **_args(subject, number)))
    return response


def _args(subject: str, number: int) -> dict[str, Any]:
    # The query of a page's URL: only what differs from the defaults.
    args: dict[str, Any] = {}
    if subject:
        args["subject"] = subject
    if number > 1:
        args["page"] = number
    return args
