"""The owner's staff page (/admin/staff): every account with its role, state and creation date, a
button to disable or enable each, and how to add one; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Quart

from bookshop.admin.accounts import LOCK_AFTER
from bookshop.admin.audit import TERMINAL, Actor, Entry, entries
from bookshop.admin.staff_accounts import OWN_ACCOUNT
from tests.fixtures.app import HTMX, Client, post
from tests.fixtures.staff import OWNER_EMAIL, STAFF_EMAIL, accounts_of, add_staff, sign_in

URL, STATE_URL = "/admin/staff", "/admin/staff/state"


async def page(client: Client) -> str:
    response = await client.get(URL)
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def audited(shop: Quart) -> list[Entry]:
    """The audit log, newest first."""
    found, _ = await entries(accounts_of(shop).database)
    return found


async def test_the_owner_sees_every_account_with_its_role_state_and_creation_date(
    shop: Quart, owner: Client, packer: Client
) -> None:
    await add_staff(shop, "gone@bookshop.test")
    await accounts_of(shop).set_disabled("gone@bookshop.test", True, Actor(TERMINAL))

    body = await page(owner)

    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert f'<td>{OWNER_EMAIL} <span class="text-body-secondary">(you)</span></td>' in body
    assert f"<td>{STAFF_EMAIL}</td>\n      <td>staff</td>\n      <td>active</td>" in body
    assert "<td>gone@bookshop.test</td>\n      <td>staff</td>\n      <td>disabled</td>" in body
    assert body.count(f"<td>{today}</td>") == 3
    # A button for each other account: Disable an active one, Enable a disabled one; none for
    # the owner's own.
    assert body.count('name="state" value="disable"') == 1
    assert body.count('name="state" value="enable"') == 1
    assert f'name="email" value="{OWNER_EMAIL}"' not in body
    assert "<code>quart --app bookshop staff add EMAIL</code>" in body


async def test_a_locked_account_says_until_when(shop: Quart, owner: Client, packer: Client) -> None:
    for _ in range(LOCK_AFTER):
        assert await accounts_of(shop).sign_in(STAFF_EMAIL, "wrong password!", None) is None
    member = await accounts_of(shop).find(STAFF_EMAIL)
    assert member is not None and member.locked_until is not None

    body = await page(owner)

    assert f"<td>locked until {member.locked_until:%Y-%m-%d %H:%M} UTC</td>" in body


async def test_emails_are_shown_with_invisible_characters_made_visible(
    shop: Quart, owner: Client
) -> None:
    await add_staff(shop, "\u202eevil@bookshop.test")

    body = await page(owner)

    assert "\u202e" not in body.replace('value="\u202eevil', "")  # only the form's own value
    assert "<td>\\u202eevil@bookshop.test</td>" in body


async def test_staff_who_are_not_the_owner_may_neither_see_nor_change_accounts(
    shop: Quart, owner: Client, packer: Client
) -> None:
    seen = await packer.get(URL)
    changed = await post(packer, STATE_URL, {"email": OWNER_EMAIL, "state": "disable"})

    assert (seen.status_code, changed.status_code) == (403, 403)
    member = await accounts_of(shop).find(OWNER_EMAIL)
    assert member is not None and not member.disabled


async def test_disabling_an_account_ends_its_sessions_and_is_audited(
    shop: Quart, owner: Client, packer: Client
) -> None:
    response = await post(owner, STATE_URL, {"email": STAFF_EMAIL, "state": "disable"})

    assert response.status_code == 303
    assert response.headers["Location"] == URL
    refused = await packer.get("/admin")
    assert refused.status_code == 303
    assert refused.headers["Location"].startswith("/admin/login")
    assert (await sign_in(shop.test_client(), STAFF_EMAIL)).status_code == 401
    member = await accounts_of(shop).find(STAFF_EMAIL)
    assert member is not None and member.disabled
    latest = (await audited(shop))[0]
    assert (latest.actor, latest.action, latest.subject) == (
        OWNER_EMAIL,
        "staff disabled",
        f"staff {STAFF_EMAIL}",
    )
    assert latest.address is not None
    assert (latest.before, latest.after) == ({"disabled": False}, {"disabled": True})
    body = await page(owner)
    assert f"<td>{STAFF_EMAIL}</td>\n      <td>staff</td>\n      <td>disabled</td>" in body


async def test_enabling_an_account_lets_it_sign_in_again(
    shop: Quart, owner: Client, packer: Client
) -> None:
    assert (
        await post(owner, STATE_URL, {"email": STAFF_EMAIL, "state": "disable"})
    ).status_code == 303

    response = await post(owner, STATE_URL, {"email": STAFF_EMAIL, "state": "enable"})

    assert response.status_code == 303
    again = shop.test_client()
    assert (await sign_in(again, STAFF_EMAIL)).status_code == 303
    assert (await again.get("/admin")).status_code == 200
    assert (await audited(shop))[1].action == "staff enabled"  # its sign-in after it


async def test_pressing_disable_twice_changes_and_logs_it_once(
    shop: Quart, owner: Client, packer: Client
) -> None:
    for _ in range(2):
        response = await post(owner, STATE_URL, {"email": STAFF_EMAIL, "state": "disable"})
        assert response.status_code == 303

    actions = [entry.action for entry in await audited(shop)]
    assert actions.count("staff disabled") == 1


async def test_the_owner_cannot_disable_their_own_account(shop: Quart, owner: Client) -> None:
    before = await audited(shop)

    response = await post(owner, STATE_URL, {"email": OWNER_EMAIL, "state": "disable"})

    assert response.status_code == 422
    body = await response.get_data(as_text=True)
    assert OWN_ACCOUNT.replace("'", "&#39;") in body
    assert "<table" in body  # the accounts, as before
    member = await accounts_of(shop).find(OWNER_EMAIL)
    assert member is not None and not member.disabled
    assert await audited(shop) == before
    assert (await owner.get("/admin")).status_code == 200


async def test_an_unknown_account_is_404_and_an_unknown_state_400(
    shop: Quart, owner: Client, packer: Client
) -> None:
    unknown = await post(owner, STATE_URL, {"email": "nobody@bookshop.test", "state": "disable"})
    odd = await post(owner, STATE_URL, {"email": STAFF_EMAIL, "state": "delete"})
    missing = await post(owner, STATE_URL, {})

    assert (unknown.status_code, odd.status_code, missing.status_code) == (404, 400, 400)
    assert "No staff account has that email." in await unknown.get_data(as_text=True)
    member = await accounts_of(shop).find(STAFF_EMAIL)
    assert member is not None and not member.disabled


async def test_a_change_without_the_csrf_token_is_refused(
    shop: Quart, owner: Client, packer: Client
) -> None:
    response = await owner.post(STATE_URL, form={"email": STAFF_EMAIL, "state": "disable"})

    assert response.status_code == 403
    member = await accounts_of(shop).find(STAFF_EMAIL)
    assert member is not None and not member.disabled


async def test_an_htmx_request_for_the_page_gets_the_whole_page(owner: Client) -> None:
    # The page has no fragment: its forms are plain, and a swap of it is the page.
    response = await owner.get(URL, headers=HTMX)
    assert response.status_code == 200
    assert "<html" in await response.get_data(as_text=True)
