"""The back office's tables as the newest migration leaves them: staff accounts, their sign-ins,
and the audit log of what staff did."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from bookshop.database import metadata

STAFF, OWNER = "staff", "owner"
ROLES = (STAFF, OWNER)

staff = Table(
    "staff",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
    # Failed sign-ins in a row; enough of them lock the account until `locked_until`.
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per signed-in browser; its id is a hash of the token in the staff cookie, so a copy of
# the database opens no session.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("staff_id", Integer, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("staff_sessions_by_staff", "staff_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # Who: a staff account's email, or "terminal" for the shop's commands.
    Column("actor", String(254), nullable=False),
    Column("address", String(64)),
    Column("action", String(64), nullable=False),
    # What it was done to: "order pi_…", "book <id>", "stock <id>", "staff <email>".
    Column("subject", String(300), nullable=False),
    # The thing before and after, as JSON.
    Column("before", Text),
    Column("after", Text),
    # An action that must happen once (a refund) names itself: a repeat finds it done.
    Column("key", String(128), unique=True),
    Index("audit_log_by_subject", "subject", "id"),
)
