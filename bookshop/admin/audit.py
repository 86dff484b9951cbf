"""The audit log: who did what to which thing, when, from where, with the thing before and after.
Each entry is written in the transaction of the action it records, so neither is ever alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bookshop.admin.schema import audit_log
from bookshop.database import Database

# The actor of what the shop's commands do on its own machine.
TERMINAL = "terminal"


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff account's email (or TERMINAL), and the address the request came from."""

    email: str
    address: str | None = None


@dataclass(frozen=True)
class Entry:
    """One recorded action."""

    id: int
    at: datetime
    actor: str
    address: str | None
    action: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def now() -> datetime:
    """The time an entry is stamped with."""
    return datetime.now(UTC)


async def record(
    connection: AsyncConnection,
    database: Database,
    actor: Actor,
    action: str,
    subject: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    key: str | None = None,
) -> bool:
    """Write an entry in the caller's transaction; with a `key`, only once: False when an entry
    with that key is there already (the action was done before, and must not be again)."""
    written = await connection.execute(
        database.insert(audit_log)
        .values(
            at=now(),
            actor=actor.email,
            address=actor.address,
            action=action,
            subject=subject,
            before=_json(before),
            after=_json(after),
            key=key,
        )
        .on_conflict_do_nothing(index_elements=[audit_log.c.key])
        .returning(audit_log.c.id)
    )
    return written.first() is not None


async def entries(
    database: Database, *, subject: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Entry], int]:
    """A page of entries, newest first (all, or one subject's), and how many there are."""
    query = select(audit_log)
    count = select(func.count()).select_from(audit_log)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
        count = count.where(audit_log.c.subject == subject)
    query = query.order_by(audit_log.c.id.desc()).limit(per_page).offset((page - 1) * per_page)
    async with database.reading() as connection:
        rows = (await connection.execute(query)).all()
        total = int(await connection.scalar(count) or 0)
    return [_entry(row) for row in rows], total


def _entry(row: Any) -> Entry:
    at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
    return Entry(
        row.id,
        at,
        row.actor,
        row.address,
        row.action,
        row.subject,
        json.loads(row.before) if row.before else None,
        json.loads(row.after) if row.after else None,
    )


def _json(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
