"""Staff accounts and their sign-ins: who may open the back office, in which role, and the
limits on guessing (a locked account after repeated failures, for a while only)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from bookshop.admin import audit
from bookshop.admin.passwords import check_strength, hash_password, verify
from bookshop.admin.schema import OWNER, ROLES, staff, staff_sessions
from bookshop.database import Database
from bookshop.forms import EMAIL, MAX_EMAIL_LENGTH

log = logging.getLogger(__name__)

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Failed sign-ins in a row that lock an account, and for how long: long enough to stop guessing,
# short enough that its owner is never locked out for good.
LOCK_AFTER = 5
LOCKED_FOR = timedelta(minutes=15)
# A session's last use is written at most this often (each write takes SQLite's write lock).
SEEN_EVERY = timedelta(minutes=1)


class AccountError(ValueError):
    """A staff account can't be made or changed so; the message says why."""


@dataclass(frozen=True)
class StaffMember:
    """A staff account as the back office sees it (never its password hash)."""

    id: int
    email: str
    role: str
    disabled: bool
    locked_until: datetime | None
    created_at: datetime

    @property
    def owner(self) -> bool:
        """True for the shop's owner: refunds, prices, the catalog and staff accounts too."""
        return self.role == OWNER

    def state(self, moment: datetime) -> str:
        """`active`, `disabled`, or `locked until 2026-12-06 14:05 UTC` after repeated failed
        sign-ins."""
        if self.disabled:
            return "disabled"
        if self.locked_until is not None and self.locked_until > moment:
            return f"locked until {self.locked_until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return "active"


def now() -> datetime:
    """The time; the tests move it."""
    return datetime.now(UTC)


def normal_email(raw: str) -> str:
    """An account's email as stored: trimmed and lower-cased; AccountError unless an address."""
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL.match(email):
        raise AccountError(f"{raw!r} is not an email address.")
    return email


def session_id(token: str) -> str:
    """The stored id of a sign-in: a hash of the cookie's token, which is never stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """The `staff` and `staff_sessions` tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, email: str, password: str, role: str, actor: audit.Actor) -> StaffMember:
        """A new account; AccountError if the email has one, WeakPassword for a poor password."""
        email = normal_email(email)
        if role not in ROLES:
            raise AccountError(f"A role is one of {', '.join(ROLES)}.")
        check_strength(password, email)
        hashed = await hash_password(password)
        async with self.database.transaction() as connection:
            if await connection.scalar(select(staff.c.id).where(staff.c.email == email)):
                raise AccountError(f"{email} has an account already.")
            stamp = now()
            await connection.execute(
                insert(staff).values(
                    email=email,
                    password_hash=hashed,
                    role=role,
                    failed_logins=0,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            await audit.record(
                connection,
                self.database,
                actor,
                "staff added",
                f"staff {email}",
                after={"email": email, "role": role},
            )
        member = await self.find(email)
        assert member is not None
        return member

    async def all(self) -> list[StaffMember]:
        """Every account, by email."""
        async with self.database.reading() as connection:
            rows = (await connection.execute(select(staff).order_by(staff.c.email))).all()
        return [_member(row) for row in rows]

    async def find(self, email: str) -> StaffMember | None:
        """The account with this email, if there is one."""
        query = select(staff).where(staff.c.email == email.strip().lower())
        async with self.database.reading() as connection:
            row = (await connection.execute(query)).first()
        return _member(row) if row is not None else None

    async def set_disabled(self, email: str, disabled: bool, actor: audit.Actor) -> StaffMember:
        """Disable an account (its sessions end at once) or enable it again."""
        member = await self._existing(email)
        async with self.database.transaction() as connection:
            await connection.execute(
                update(staff)
                .where(staff.c.id == member.id)
                .values(disabled_at=now() if disabled else None, updated_at=now())
            )
            if disabled:
                await connection.execute(
                    delete(staff_sessions).where(staff_sessions.c.staff_id == member.id)
                )
            await audit.record(
                connection,
                self.database,
                actor,
                "staff disabled" if disabled else "staff enabled",
                f"staff {member.email}",
                before={"disabled": member.disabled},
                after={"disabled": disabled},
            )
        return await self._existing(email)

    async def set_password(self, email: str, password: str, actor: audit.Actor) -> None:
        """A new password: it ends the account's sessions and any lock."""
        member = await self._existing(email)
        check_strength(password, member.email)
        hashed = await hash_password(password)
        async with self.database.transaction() as connection:
            await connection.execute(
                update(staff)
                .where(staff.c.id == member.id)
                .values(password_hash=hashed, failed_logins=0, locked_until=None, updated_at=now())
            )
            await connection.execute(
                delete(staff_sessions).where(staff_sessions.c.staff_id == member.id)
            )
            await audit.record(
                connection, self.database, actor, "password changed", f"staff {member.email}"
            )

    async def sign_in(self, email: str, password: str, address: str | None) -> str | None:
        """A new session's token when the password is right and the account may sign in; None
        otherwise, after the same work whether or not the account exists."""
        query = select(staff).where(staff.c.email == email.strip().lower()[:MAX_EMAIL_LENGTH])
        async with self.database.reading() as connection:
            row = (await connection.execute(query)).first()
        right = await verify(row.password_hash if row is not None else None, password)
        if row is None:
            log.warning("staff sign-in refused: no such account")
            return None
        moment = now()
        locked = row.locked_until is not None and _aware(row.locked_until) > moment
        if not right or locked or row.disabled_at is not None:
            if not locked:
                # Tries while locked don't count: they can't keep the lock going for ever.
                await self._failed(row.id, moment)
            log.warning("staff sign-in refused for account %s", row.id)
            return None
        token = secrets.token_urlsafe(32)
        async with self.database.transaction() as connection:
            await connection.execute(
                update(staff).where(staff.c.id == row.id).values(failed_logins=0, locked_until=None)
            )
            await connection.execute(
                insert(staff_sessions).values(
                    id=session_id(token),
                    staff_id=row.id,
                    address=address,
                    created_at=moment,
                    seen_at=moment,
                )
            )
            await audit.record(
                connection,
                self.database,
                audit.Actor(row.email, address),
                "signed in",
                f"staff {row.email}",
            )
        return token

    async def signed_in(self, token: str) -> StaffMember | None:
        """The account a session's token belongs to, while the session is live: not idle for
        30 minutes, not older than 12 hours, its account not disabled."""
        query = (
            select(staff, staff_sessions.c.created_at.label("since"), staff_sessions.c.seen_at)
            .join(staff_sessions, staff_sessions.c.staff_id == staff.c.id)
            .where(staff_sessions.c.id == session_id(token))
        )
        async with self.database.reading() as connection:
            row = (await connection.execute(query)).first()
        if row is None or row.disabled_at is not None:
            return None
        moment, seen = now(), _aware(row.seen_at)
        if moment - seen > IDLE_TIMEOUT or moment - _aware(row.since) > ABSOLUTE_TIMEOUT:
            await self.sign_out(token)
            return None
        if moment - seen > SEEN_EVERY:
            async with self.database.transaction() as connection:
                await connection.execute(
                    update(staff_sessions)
                    .where(staff_sessions.c.id == session_id(token))
                    .values(seen_at=moment)
                )
        return _member(row)

    async def sign_out(self, token: str) -> None:
        """End a session."""
        async with self.database.transaction() as connection:
            await connection.execute(
                delete(staff_sessions).where(staff_sessions.c.id == session_id(token))
            )

    async def _failed(self, staff_id: int, moment: datetime) -> None:
        # One more failure in a row; the LOCK_AFTER-th locks the account and starts a new count.
        async with self.database.transaction() as connection:
            failures = await connection.scalar(
                update(staff)
                .where(staff.c.id == staff_id)
                .values(failed_logins=staff.c.failed_logins + 1)
                .returning(staff.c.failed_logins)
            )
            if failures is not None and failures >= LOCK_AFTER:
                await connection.execute(
                    update(staff)
                    .where(staff.c.id == staff_id)
                    .values(failed_logins=0, locked_until=moment + LOCKED_FOR)
                )
                log.warning("staff account %s locked after %d failed sign-ins", staff_id, failures)

    async def _existing(self, email: str) -> StaffMember:
        member = await self.find(email)
        if member is None:
            raise AccountError(f"No staff account has the email {email.strip()!r}.")
        return member


def _member(row: Any) -> StaffMember:
    return StaffMember(
        row.id,
        row.email,
        row.role,
        row.disabled_at is not None,
        _aware(row.locked_until) if row.locked_until is not None else None,
        _aware(row.created_at),
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
