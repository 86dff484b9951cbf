"""`quart --app bookshop staff add`, `list`, `disable`, `enable` and `password`, on SQLite and
PostgreSQL.

These are plain `def` tests: the commands run their own event loop, as they do from a shell.
The runner's standard input is not a terminal, so a password is read as one line of it unless a
test says the input is a terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import Result

from bookshop import create_app
from bookshop.admin import commands
from bookshop.admin.accounts import LOCK_AFTER, Accounts, StaffMember
from bookshop.admin.audit import TERMINAL, Entry, entries
from bookshop.admin.commands import NO_ACCOUNTS
from bookshop.admin.passwords import WeakPassword, check_strength
from bookshop.catalog.commands import opened
from bookshop.config import Settings
from tests.fixtures.database import run_async
from tests.fixtures.staff import PASSWORD

EMAIL = "ada@bookshop.test"
ANOTHER_PASSWORD = "copper lantern meadow 2041 quiver"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The shop's settings on this test's database (SQLite, then PostgreSQL)."""
    return Settings(database_url=database_url, env="test", secret_key="test-secret")


@pytest.fixture
def on_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input is a terminal: the commands prompt (the runner answers from its input)."""
    monkeypatch.setattr(commands, "on_terminal", lambda: True)


def run(settings: Settings, *args: str, typed: str | None = None) -> Result:
    """Run a `quart --app bookshop` command against these settings, with `typed` as its input."""
    runner = create_app(settings).test_cli_runner()
    result: Result = runner.invoke(args=list(args), input=typed)
    return result


def add(settings: Settings, email: str = EMAIL, *options: str, password: str = PASSWORD) -> Result:
    """`staff add`, the password piped in."""
    return run(settings, "staff", "add", email, *options, typed=f"{password}\n")


def members(settings: Settings) -> list[StaffMember]:
    async def read() -> list[StaffMember]:
        async with opened(settings) as database:
            return await Accounts(database).all()

    return run_async(read())


def sign_in(settings: Settings, email: str, password: str) -> str | None:
    async def signing_in() -> str | None:
        async with opened(settings) as database:
            return await Accounts(database).sign_in(email, password, "127.0.0.1")

    return run_async(signing_in())


def session_lives(settings: Settings, token: str) -> bool:
    async def check() -> bool:
        async with opened(settings) as database:
            return await Accounts(database).signed_in(token) is not None

    return run_async(check())


def audit(settings: Settings) -> list[Entry]:
    """Every audit entry, oldest first."""

    async def read() -> list[Entry]:
        async with opened(settings) as database:
            found, _ = await entries(database, per_page=1000)
        return found

    return list(reversed(run_async(read())))


def test_add_reads_the_password_from_standard_input_and_never_prints_it(
    settings: Settings,
) -> None:
    result = add(settings)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Added {EMAIL} (staff): they can sign in at /admin.\n"
    assert PASSWORD not in result.output
    [member] = members(settings)
    assert (member.email, member.role, member.disabled) == (EMAIL, "staff", False)
    assert sign_in(settings, EMAIL, PASSWORD) is not None
    [added, _signed_in] = audit(settings)
    assert (added.actor, added.action, added.subject) == (TERMINAL, "staff added", f"staff {EMAIL}")
    assert added.after == {"email": EMAIL, "role": "staff"}


def test_add_owner_makes_an_owners_account_with_its_email_as_stored(settings: Settings) -> None:
    result = add(settings, "  Ada@Bookshop.TEST ", "--owner")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Added {EMAIL} (owner): they can sign in at /admin.\n"
    assert [(member.email, member.role) for member in members(settings)] == [(EMAIL, "owner")]


def weakness(password: str, email: str = EMAIL) -> str:
    """Why the shop's password rules refuse this password."""
    with pytest.raises(WeakPassword) as refused:
        check_strength(password, email)
    return str(refused.value)


@pytest.mark.parametrize("password", ["short pass", "password1234", "ada@bookshop.test1"])
def test_add_refuses_a_short_common_or_guessable_password_with_the_rules_words(
    settings: Settings, password: str
) -> None:
    result = add(settings, password=password)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {weakness(password)} Nothing was changed.\n"
    assert password not in result.output
    assert members(settings) == []
    assert audit(settings) == []


def test_a_short_password_is_refused_saying_how_long_one_must_be(settings: Settings) -> None:
    result = add(settings, password="short pass")
    assert result.stderr == "Error: Use at least 12 characters. Nothing was changed.\n"


def test_add_refuses_an_email_that_has_an_account_already(settings: Settings) -> None:
    assert add(settings).exit_code == 0

    again = add(settings, EMAIL.upper(), "--owner", password=ANOTHER_PASSWORD)

    assert again.exit_code == 1
    assert again.stderr == f"Error: {EMAIL} has an account already.\n"
    assert [(member.email, member.role) for member in members(settings)] == [(EMAIL, "staff")]
    assert sign_in(settings, EMAIL, ANOTHER_PASSWORD) is None


def test_add_refuses_what_is_not_an_email_address_before_asking_for_a_password(
    settings: Settings, on_terminal: None
) -> None:
    result = run(settings, "staff", "add", "ada", typed="")

    assert result.exit_code == 1
    assert result.output == "Error: 'ada' is not an email address.\n"  # no prompt first
    assert members(settings) == []


def test_add_on_a_terminal_asks_twice_and_echoes_neither(
    settings: Settings, on_terminal: None
) -> None:
    result = run(settings, "staff", "add", EMAIL, typed=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"New password for {EMAIL}: \nThe same password again: \n"
        f"Added {EMAIL} (staff): they can sign in at /admin.\n"
    )
    assert PASSWORD not in result.output
    assert sign_in(settings, EMAIL, PASSWORD) is not None


def test_add_on_a_terminal_refuses_two_different_passwords(
    settings: Settings, on_terminal: None
) -> None:
    result = run(settings, "staff", "add", EMAIL, typed=f"{PASSWORD}\n{ANOTHER_PASSWORD}\n")

    assert result.exit_code == 1
    assert result.stderr == "Error: The two passwords differ. Nothing was changed.\n"
    assert PASSWORD not in result.output and ANOTHER_PASSWORD not in result.output
    assert members(settings) == []


def test_list_with_no_account_says_how_to_add_the_first(settings: Settings) -> None:
    result = run(settings, "staff", "list")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{NO_ACCOUNTS}\n"


def test_list_shows_each_accounts_role_state_and_creation_date(settings: Settings) -> None:
    assert add(settings, "owner@bookshop.test", "--owner").exit_code == 0
    assert add(settings, "packer@bookshop.test").exit_code == 0
    assert add(settings, "locked@bookshop.test").exit_code == 0
    assert run(settings, "staff", "disable", "packer@bookshop.test").exit_code == 0
    for _ in range(LOCK_AFTER):
        assert sign_in(settings, "locked@bookshop.test", "not the password at all") is None

    result = run(settings, "staff", "list")

    assert result.exit_code == 0, result.output
    [header, *rows] = result.stdout.splitlines()
    assert header.split() == ["EMAIL", "ROLE", "STATE", "CREATED", "(UTC)"]
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert [row.split()[:3] for row in rows] == [
        ["locked@bookshop.test", "staff", "locked"],
        ["owner@bookshop.test", "owner", "active"],
        ["packer@bookshop.test", "staff", "disabled"],
    ]
    [locked] = [member for member in members(settings) if member.locked_until]
    assert locked.locked_until is not None
    assert f"locked until {locked.locked_until:%Y-%m-%d %H:%M} UTC" in rows[0]
    assert all(row.split()[-2] == today for row in rows)


def test_list_shows_an_email_with_a_terminal_escape_visibly(settings: Settings) -> None:
    assert add(settings, "\x1b[31mred@bookshop.test").exit_code == 0

    result = run(settings, "staff", "list")

    assert "\x1b" not in result.output
    assert result.stdout.splitlines()[1].startswith("\\x1b[31mred@bookshop.test  staff  active")


def test_disable_ends_the_accounts_sessions_and_enable_lets_it_sign_in_again(
    settings: Settings,
) -> None:
    assert add(settings).exit_code == 0
    token = sign_in(settings, EMAIL, PASSWORD)
    assert token is not None

    disabled = run(settings, "staff", "disable", EMAIL)

    assert disabled.exit_code == 0, disabled.output
    assert disabled.stdout == f"Disabled {EMAIL}: its sessions have ended.\n"
    assert not session_lives(settings, token)
    assert sign_in(settings, EMAIL, PASSWORD) is None
    enabled = run(settings, "staff", "enable", EMAIL)
    assert enabled.exit_code == 0, enabled.output
    assert enabled.stdout == f"Enabled {EMAIL}: it can sign in again.\n"
    assert sign_in(settings, EMAIL, PASSWORD) is not None
    actions = [(entry.actor, entry.action) for entry in audit(settings)]
    assert (TERMINAL, "staff disabled") in actions
    assert (TERMINAL, "staff enabled") in actions


def test_disable_or_enable_twice_changes_nothing_the_second_time(settings: Settings) -> None:
    assert add(settings).exit_code == 0
    assert run(settings, "staff", "disable", EMAIL).exit_code == 0

    again = run(settings, "staff", "disable", EMAIL)
    enabled = run(settings, "staff", "enable", EMAIL)
    enabled_again = run(settings, "staff", "enable", EMAIL)

    assert again.stdout == f"{EMAIL} was disabled already.\n"
    assert enabled_again.stdout == f"{EMAIL} was not disabled.\n"
    assert (again.exit_code, enabled.exit_code, enabled_again.exit_code) == (0, 0, 0)
    actions = [entry.action for entry in audit(settings)]
    assert actions.count("staff disabled") == 1
    assert actions.count("staff enabled") == 1


@pytest.mark.parametrize("command", ["disable", "enable", "password"])
def test_a_command_for_an_email_with_no_account_is_refused(
    settings: Settings, command: str
) -> None:
    result = run(settings, "staff", command, "nobody@bookshop.test", typed=f"{PASSWORD}\n")

    assert result.exit_code == 1
    assert "No staff account has the email 'nobody@bookshop.test'." in result.stderr
    assert members(settings) == []


def test_password_sets_a_new_one_ending_sessions_and_the_lock(settings: Settings) -> None:
    assert add(settings).exit_code == 0
    token = sign_in(settings, EMAIL, PASSWORD)
    assert token is not None
    for _ in range(LOCK_AFTER):
        sign_in(settings, EMAIL, "not the password at all")
    assert members(settings)[0].locked_until is not None

    result = run(settings, "staff", "password", EMAIL, typed=f"{ANOTHER_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"New password set for {EMAIL}: its sessions and any lock have ended.\n"
    )
    assert ANOTHER_PASSWORD not in result.output
    assert not session_lives(settings, token)
    assert members(settings)[0].locked_until is None
    assert sign_in(settings, EMAIL, PASSWORD) is None
    assert sign_in(settings, EMAIL, ANOTHER_PASSWORD) is not None
    assert ("terminal", "password changed") in [(e.actor, e.action) for e in audit(settings)]


def test_password_on_a_terminal_asks_twice_and_refuses_a_weak_one(
    settings: Settings, on_terminal: None
) -> None:
    assert run(settings, "staff", "add", EMAIL, typed=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0

    differ = run(settings, "staff", "password", EMAIL, typed=f"{ANOTHER_PASSWORD}\nother\n")
    weak = run(settings, "staff", "password", EMAIL, typed="password1234\npassword1234\n")

    assert differ.exit_code == 1
    assert differ.stderr == "Error: The two passwords differ. Nothing was changed.\n"
    assert weak.exit_code == 1
    assert "Choose a longer, less common password. Nothing was changed." in weak.stderr
    assert "password1234" not in weak.output
    assert sign_in(settings, EMAIL, PASSWORD) is not None
