"""Shopkeeper commands for staff accounts: `quart --app bookshop staff add EMAIL [--owner]`,
`staff list`, `staff disable EMAIL`, `staff enable EMAIL` and `staff password EMAIL`.

The shop has no default account: the first is made here, on the shop's own machine, since a
password is typed at the terminal (or piped in) and never crosses the web. No password is ever
printed or logged; what the commands do is in the audit log, done by "terminal".
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from quart import Quart
from sqlalchemy.exc import SQLAlchemyError

from bookshop.admin.accounts import AccountError, Accounts, StaffMember, normal_email, now
from bookshop.admin.audit import TERMINAL, Actor
from bookshop.admin.passwords import WeakPassword
from bookshop.admin.schema import OWNER, STAFF
from bookshop.catalog.commands import describe, opened
from bookshop.config import Settings
from bookshop.stock.commands import table
from bookshop.text import visible

T = TypeVar("T")

# What the shop's commands act as, in the audit log.
ACTOR = Actor(TERMINAL)
NO_ACCOUNTS = (
    "No staff accounts yet: add the first with `quart --app bookshop staff add EMAIL --owner`."
)


class PasswordsDiffer(Exception):
    """The password typed the second time was not the first."""


def register(app: Quart, settings: Settings) -> None:
    """Add the `staff` commands to the app's `quart` CLI."""

    @app.cli.group("staff")
    def staff_group() -> None:
        """Back office accounts: who may sign in at /admin, and in which role."""

    @staff_group.command("add")
    @click.argument("email")
    @click.option(
        "--owner",
        is_flag=True,
        help="The shop's owner: refunds, prices, the catalog and staff accounts too.",
    )
    def add_command(email: str, owner: bool) -> None:
        """Add an account for EMAIL (staff: orders, shipping and stock; --owner: everything).

        The password is asked for twice on a terminal, or read as one line from standard input
        otherwise (`... staff add EMAIL < file`). Short, common and easy-to-guess passwords are
        refused.
        """
        address = checked_email(email)
        if run(find(settings, address)) is not None:
            raise click.ClickException(f"{visible(address)} has an account already.")
        password = new_password(address)
        role = OWNER if owner else STAFF
        member = run(changed(settings, lambda staff: staff.add(address, password, role, ACTOR)))
        click.echo(f"Added {visible(member.email)} ({member.role}): they can sign in at /admin.")

    @staff_group.command("list")
    def list_command() -> None:
        """Print every account: email, role, whether it is disabled or locked, when made."""
        click.echo(format_accounts(run(every_account(settings)), now()))

    @staff_group.command("disable")
    @click.argument("email")
    def disable_command(email: str) -> None:
        """Stop EMAIL's account signing in; its sessions end at once (`staff enable` undoes it)."""
        member, done = run(switched(settings, email, disabled=True))
        if done:
            click.echo(f"Disabled {visible(member.email)}: its sessions have ended.")
        else:
            click.echo(f"{visible(member.email)} was disabled already.")

    @staff_group.command("enable")
    @click.argument("email")
    def enable_command(email: str) -> None:
        """Let EMAIL's disabled account sign in again."""
        member, done = run(switched(settings, email, disabled=False))
        if done:
            click.echo(f"Enabled {visible(member.email)}: it can sign in again.")
        else:
            click.echo(f"{visible(member.email)} was not disabled.")

    @staff_group.command("password")
    @click.argument("email")
    def password_command(email: str) -> None:
        """Give EMAIL's account a new password, asked for as `staff add` does; its sessions and
        any lock after failed sign-ins end."""
        member = run(find(settings, email))
        if member is None:
            raise click.ClickException(f"No staff account has the email {quoted(email)}.")
        password = new_password(member.email)
        run(changed(settings, lambda staff: staff.set_password(member.email, password, ACTOR)))
        click.echo(
            f"New password set for {visible(member.email)}: its sessions and any lock have ended."
        )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's work; a refusal or a database failure becomes its one line and exit
    status 1."""
    try:
        return asyncio.run(coroutine)
    except (AccountError, WeakPassword) as refused:
        raise click.ClickException(f"{visible(str(refused))} Nothing was changed.") from None
    except (SQLAlchemyError, OSError) as error:
        raise click.ClickException(f"The database failed ({describe(error)}).") from None


def checked_email(raw: str) -> str:
    """An account's email as stored, refused before any password is asked for."""
    try:
        return normal_email(raw)
    except AccountError:
        raise click.ClickException(f"{quoted(raw)} is not an email address.") from None


def new_password(email: str) -> str:
    """A new password for `email`: typed twice, hidden, on a terminal; otherwise one line of
    standard input (its line ending dropped)."""
    try:
        return typed_twice(email) if on_terminal() else piped()
    except PasswordsDiffer:
        raise click.ClickException("The two passwords differ. Nothing was changed.") from None


def on_terminal() -> bool:
    """True when someone types at a terminal, False when the input is piped or redirected."""
    return sys.stdin.isatty()


def typed_twice(email: str) -> str:
    """The password, asked for twice without echoing it; PasswordsDiffer unless the same."""
    first: str = click.prompt(f"New password for {visible(email)}", hide_input=True)
    again: str = click.prompt("The same password again", hide_input=True)
    if first != again:
        raise PasswordsDiffer
    return first


def piped() -> str:
    """One line of standard input, without its line ending."""
    return sys.stdin.readline().rstrip("\r\n")


async def find(settings: Settings, email: str) -> StaffMember | None:
    """The account with this email, if there is one."""
    async with opened(settings) as database:
        return await Accounts(database).find(email)


async def every_account(settings: Settings) -> list[StaffMember]:
    """Every account, by email."""
    async with opened(settings) as database:
        return await Accounts(database).all()


async def changed(settings: Settings, change: Callable[[Accounts], Awaitable[T]]) -> T:
    """Change the accounts, as the terminal."""
    async with opened(settings) as database:
        return await change(Accounts(database))


async def switched(settings: Settings, email: str, *, disabled: bool) -> tuple[StaffMember, bool]:
    """Disable or enable an account, and whether that changed it: one already so is left as it
    is (and not logged again)."""
    async with opened(settings) as database:
        accounts = Accounts(database)
        member = await accounts.find(email)
        if member is None:
            raise AccountError(f"No staff account has the email {quoted(email)}.")
        if member.disabled == disabled:
            return member, False
        return await accounts.set_disabled(member.email, disabled, ACTOR), True


def format_accounts(members: list[StaffMember], moment: datetime) -> str:
    """Every account as a table, or a line saying how to add the first."""
    if not members:
        return NO_ACCOUNTS
    header = ("EMAIL", "ROLE", "STATE", "CREATED (UTC)")
    rows = [
        (
            visible(member.email),
            member.role,
            member.state(moment),
            f"{member.created_at.astimezone(UTC):%Y-%m-%d %H:%M}",
        )
        for member in members
    ]
    return table(header, rows, right=range(0))


def quoted(text: str) -> str:
    """What the shopkeeper typed, quoted and shown visibly."""
    return f"'{visible(text.strip())}'"
