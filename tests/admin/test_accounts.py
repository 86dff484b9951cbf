"""Staff accounts in the store (bookshop/admin/accounts.py, passwords.py): adding one, its
Argon2id hash, disabling, new passwords, the lockout after failed sign-ins and its end, and the
sessions' idle and absolute timeouts with the clock moved; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from quart import Quart
from sqlalchemy import select, update

from bookshop.admin import accounts as accounts_module
from bookshop.admin.accounts import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    LOCK_AFTER,
    LOCKED_FOR,
    AccountError,
    Accounts,
)
from bookshop.admin.audit import TERMINAL, Actor, entries
from bookshop.admin.passwords import WeakPassword
from bookshop.admin.schema import OWNER, STAFF, staff, staff_sessions
from tests.fixtures.staff import PASSWORD, accounts_of

EMAIL = "ada@bookshop.test"
ANOTHER_PASSWORD = "copper lantern meadow 2041 quiver"
WRONG = "not the password at all"
TERMINAL_ACTOR = Actor(TERMINAL)


class Clock:
    """The accounts' clock, moved by the test."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def move(self, by: timedelta) -> None:
        self.moment += by


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock the test moves, in place of the accounts' own."""
    moved = Clock()
    monkeypatch.setattr(accounts_module, "now", moved)
    return moved


@pytest.fixture
def accounts(shop: Quart) -> Accounts:
    """The shop's staff accounts (on SQLite, then PostgreSQL)."""
    return accounts_of(shop)


async def stored_hash(accounts: Accounts, email: str) -> str:
    async with accounts.database.reading() as connection:
        found: str = await connection.scalar(
            select(staff.c.password_hash).where(staff.c.email == email)
        )
    return found


async def sessions_of(accounts: Accounts, email: str) -> int:
    query = (
        select(staff_sessions.c.id)
        .join(staff, staff.c.id == staff_sessions.c.staff_id)
        .where(staff.c.email == email)
    )
    async with accounts.database.reading() as connection:
        return len((await connection.execute(query)).all())


async def fail(accounts: Accounts, times: int, email: str = EMAIL) -> None:
    for _ in range(times):
        assert await accounts.sign_in(email, WRONG, "203.0.113.9") is None


async def test_add_stores_the_account_with_its_email_normalised_and_audits_it(
    accounts: Accounts,
) -> None:
    member = await accounts.add("  Ada@Bookshop.TEST ", PASSWORD, OWNER, TERMINAL_ACTOR)

    assert (member.email, member.role, member.owner, member.disabled) == (EMAIL, OWNER, True, False)
    assert member.locked_until is None
    assert await accounts.find("ADA@bookshop.test") == member
    assert await accounts.all() == [member]
    [entry], _ = await entries(accounts.database)
    assert (entry.actor, entry.action, entry.subject) == (TERMINAL, "staff added", f"staff {EMAIL}")
    assert entry.after == {"email": EMAIL, "role": OWNER}


async def test_all_lists_accounts_by_email(accounts: Accounts) -> None:
    for email in ("zoe@bookshop.test", "ada@bookshop.test", "max@bookshop.test"):
        await accounts.add(email, PASSWORD, STAFF, TERMINAL_ACTOR)

    assert [member.email for member in await accounts.all()] == [
        "ada@bookshop.test",
        "max@bookshop.test",
        "zoe@bookshop.test",
    ]


async def test_a_second_account_for_an_email_is_refused(accounts: Accounts) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)

    with pytest.raises(AccountError, match="has an account already"):
        await accounts.add(EMAIL.upper(), ANOTHER_PASSWORD, OWNER, TERMINAL_ACTOR)

    [member] = await accounts.all()
    assert member.role == STAFF
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None


@pytest.mark.parametrize(
    "password", ["short", "password1234", "ada@bookshop.test", "qwertyuiopasdf", "x" * 257]
)
async def test_a_short_long_common_or_guessable_password_is_refused(
    accounts: Accounts, password: str
) -> None:
    with pytest.raises(WeakPassword) as refused:
        await accounts.add(EMAIL, password, STAFF, TERMINAL_ACTOR)

    assert password not in str(refused.value)
    assert await accounts.all() == []
    assert await entries(accounts.database) == ([], 0)


@pytest.mark.parametrize("email", ["ada", "ada@bookshop", "a b@bookshop.test", "", "@x.test"])
async def test_what_is_not_an_email_address_is_refused(accounts: Accounts, email: str) -> None:
    with pytest.raises(AccountError, match="is not an email address"):
        await accounts.add(email, PASSWORD, STAFF, TERMINAL_ACTOR)


async def test_a_role_other_than_staff_or_owner_is_refused(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match=r"A role is one of staff, owner\."):
        await accounts.add(EMAIL, PASSWORD, "admin", TERMINAL_ACTOR)


async def test_the_password_is_stored_as_an_argon2id_hash_never_as_itself(
    accounts: Accounts,
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)

    hashed = await stored_hash(accounts, EMAIL)

    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert PasswordHasher().verify(hashed, PASSWORD)
    # Salted: the same password hashes differently for another account.
    await accounts.add("max@bookshop.test", PASSWORD, STAFF, TERMINAL_ACTOR)
    assert await stored_hash(accounts, "max@bookshop.test") != hashed


async def test_sign_in_with_the_right_password_opens_a_session_and_a_wrong_one_none(
    accounts: Accounts,
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)

    token = await accounts.sign_in(EMAIL.upper(), PASSWORD, "203.0.113.9")

    assert token is not None
    member = await accounts.signed_in(token)
    assert member is not None and member.email == EMAIL
    assert await accounts.sign_in(EMAIL, WRONG, None) is None
    assert await accounts.sign_in("nobody@bookshop.test", PASSWORD, None) is None
    assert await accounts.signed_in("a token never given") is None
    # The session's id is a hash of its token: the database never holds the token.
    async with accounts.database.reading() as connection:
        ids = (await connection.execute(select(staff_sessions.c.id))).scalars().all()
    assert token not in ids


async def test_disabling_ends_every_session_and_refuses_sign_in(accounts: Accounts) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    tokens = [await accounts.sign_in(EMAIL, PASSWORD, None) for _ in range(2)]

    member = await accounts.set_disabled(EMAIL, True, Actor("owner@bookshop.test", "10.0.0.1"))

    assert member.disabled
    assert [await accounts.signed_in(token) for token in tokens if token] == [None, None]
    assert await sessions_of(accounts, EMAIL) == 0
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is None
    latest = (await entries(accounts.database))[0][0]
    assert (latest.actor, latest.address, latest.action) == (
        "owner@bookshop.test",
        "10.0.0.1",
        "staff disabled",
    )
    assert (latest.before, latest.after) == ({"disabled": False}, {"disabled": True})


async def test_enabling_lets_the_account_sign_in_again(accounts: Accounts) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    await accounts.set_disabled(EMAIL, True, TERMINAL_ACTOR)

    member = await accounts.set_disabled(EMAIL, False, TERMINAL_ACTOR)

    assert not member.disabled
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None
    assert (await entries(accounts.database))[0][0].action == "signed in"


async def test_a_disabled_accounts_token_is_refused_even_if_its_session_remained(
    accounts: Accounts,
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    token = await accounts.sign_in(EMAIL, PASSWORD, None)
    assert token is not None
    # Disabled behind the store's back, its session row left in place.
    async with accounts.database.transaction() as connection:
        await connection.execute(
            update(staff).where(staff.c.email == EMAIL).values(disabled_at=datetime.now(UTC))
        )

    assert await accounts.signed_in(token) is None


async def test_changing_or_disabling_an_account_that_does_not_exist_is_refused(
    accounts: Accounts,
) -> None:
    with pytest.raises(AccountError, match="No staff account has the email"):
        await accounts.set_disabled("nobody@bookshop.test", True, TERMINAL_ACTOR)
    with pytest.raises(AccountError, match="No staff account has the email"):
        await accounts.set_password("nobody@bookshop.test", ANOTHER_PASSWORD, TERMINAL_ACTOR)


async def test_a_new_password_ends_every_session_and_the_lock(
    accounts: Accounts, clock: Clock
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    token = await accounts.sign_in(EMAIL, PASSWORD, None)
    assert token is not None
    await fail(accounts, LOCK_AFTER)
    locked = await accounts.find(EMAIL)
    assert locked is not None and locked.locked_until is not None

    await accounts.set_password(EMAIL, ANOTHER_PASSWORD, TERMINAL_ACTOR)

    assert await accounts.signed_in(token) is None
    member = await accounts.find(EMAIL)
    assert member is not None and member.locked_until is None
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is None
    assert await accounts.sign_in(EMAIL, ANOTHER_PASSWORD, None) is not None
    actions = [entry.action for entry in (await entries(accounts.database))[0]]
    assert "password changed" in actions


async def test_a_weak_new_password_is_refused_and_the_old_one_kept(accounts: Accounts) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    before = await stored_hash(accounts, EMAIL)

    with pytest.raises(WeakPassword):
        await accounts.set_password(EMAIL, "password1234", TERMINAL_ACTOR)

    assert await stored_hash(accounts, EMAIL) == before


async def test_five_failures_in_a_row_lock_the_account_for_fifteen_minutes(
    accounts: Accounts, clock: Clock
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)

    await fail(accounts, LOCK_AFTER - 1)
    not_yet = await accounts.find(EMAIL)
    assert not_yet is not None and not_yet.locked_until is None
    await fail(accounts, 1)

    member = await accounts.find(EMAIL)
    assert member is not None and member.locked_until == clock.moment + LOCKED_FOR
    assert timedelta(minutes=15) == LOCKED_FOR
    # Locked: the right password opens nothing, until the lock ends.
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is None
    clock.move(LOCKED_FOR - timedelta(seconds=1))
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is None
    clock.move(timedelta(seconds=2))
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None


async def test_a_right_password_between_failures_starts_the_count_again(
    accounts: Accounts,
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)

    await fail(accounts, LOCK_AFTER - 1)
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None
    await fail(accounts, LOCK_AFTER - 1)

    member = await accounts.find(EMAIL)
    assert member is not None and member.locked_until is None
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None


async def test_tries_while_locked_do_not_make_the_lock_last_longer(
    accounts: Accounts, clock: Clock
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    await fail(accounts, LOCK_AFTER)
    ends = clock.moment + LOCKED_FOR

    for _ in range(3):
        clock.move(timedelta(minutes=4))
        await fail(accounts, LOCK_AFTER)

    member = await accounts.find(EMAIL)
    assert member is not None and member.locked_until == ends
    clock.moment = ends + timedelta(seconds=1)
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None


async def test_after_a_lock_ends_it_takes_five_new_failures_to_lock_again(
    accounts: Accounts, clock: Clock
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    await fail(accounts, LOCK_AFTER)
    clock.move(LOCKED_FOR + timedelta(seconds=1))

    await fail(accounts, LOCK_AFTER - 1)

    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None


async def test_a_session_idle_for_thirty_minutes_ends(accounts: Accounts, clock: Clock) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    token = await accounts.sign_in(EMAIL, PASSWORD, None)
    assert token is not None
    assert timedelta(minutes=30) == IDLE_TIMEOUT

    # Used every 29 minutes, it lives on well past 30 minutes in all.
    for _ in range(3):
        clock.move(IDLE_TIMEOUT - timedelta(minutes=1))
        assert await accounts.signed_in(token) is not None
    clock.move(IDLE_TIMEOUT + timedelta(seconds=1))

    assert await accounts.signed_in(token) is None
    assert await sessions_of(accounts, EMAIL) == 0  # gone, not only refused
    clock.move(-IDLE_TIMEOUT)
    assert await accounts.signed_in(token) is None


async def test_a_session_ends_after_twelve_hours_however_busy(
    accounts: Accounts, clock: Clock
) -> None:
    await accounts.add(EMAIL, PASSWORD, STAFF, TERMINAL_ACTOR)
    token = await accounts.sign_in(EMAIL, PASSWORD, None)
    assert token is not None
    assert timedelta(hours=12) == ABSOLUTE_TIMEOUT
    started = clock.moment

    while clock.moment + timedelta(minutes=20) < started + ABSOLUTE_TIMEOUT:
        clock.move(timedelta(minutes=20))
        assert await accounts.signed_in(token) is not None
    clock.moment = started + ABSOLUTE_TIMEOUT + timedelta(seconds=1)

    assert await accounts.signed_in(token) is None
    # A new sign-in starts a new twelve hours.
    assert await accounts.sign_in(EMAIL, PASSWORD, None) is not None
