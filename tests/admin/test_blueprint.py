"""The back office's guard, walked over every route under /admin from the app's URL map: a route
added tomorrow is covered without anyone remembering to."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select
from werkzeug.routing import Rule

from bookshop.admin.audit import TERMINAL, Actor
from bookshop.admin.schema import OWNER, STAFF, staff_sessions
from bookshop.database import metadata
from bookshop.security import policies
from tests.fixtures.app import HTMX, Client, csrf_token
from tests.fixtures.staff import STAFF_EMAIL, accounts_of, add_staff, sign_in

# A value for each kind of URL part an /admin route may take.
SAMPLE_VALUES = {"intent_id": "pi_0000000000000000000000aa", "book_id": "code"}
LOGIN = "/admin/login"


def admin_rules(app: Quart) -> list[Rule]:
    """Every route under /admin but the sign-in form, which everyone must reach."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and rule.endpoint != "admin.login"
    ]


def url_of(rule: Rule) -> str:
    values = {name: SAMPLE_VALUES.get(name, "x") for name in rule.arguments}
    built = rule.build(values)
    assert built is not None
    return built[1]


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


async def snapshot(app: Quart) -> dict[str, list[Any]]:
    """Every row of every table, but when a session was last seen (touching it changes nothing)."""
    database = app.extensions["ledger"].database
    found = {}
    async with database.reading() as connection:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c is not staff_sessions.c.seen_at]
            rows = (await connection.execute(select(*columns))).all()
            found[table.name] = sorted(map(repr, rows))
    return found


async def request(client: Client, method: str, url: str, htmx: bool = False) -> Any:
    headers = dict(HTMX) if htmx else {}
    if method == "GET":
        return await client.get(url, headers=headers)
    # A real token: the guard, not the CSRF check, must be what refuses it.
    token = await csrf_token(client)
    headers["X-CSRF-Token"] = token
    return await client.open(url, method=method, form={"csrf_token": token}, headers=headers)


def test_every_back_office_route_needs_a_staff_role(app: Quart) -> None:
    declared = policies(app)
    rules = admin_rules(app)
    assert len(rules) > 10, "the walk sees the back office's routes"
    for rule in rules:
        assert declared[rule.endpoint].role in (STAFF, OWNER), rule.endpoint
        assert declared[rule.endpoint].private, rule.endpoint
    assert declared["admin.login"].role is None


@pytest.mark.parametrize("who", ["nobody", "shopper"])
async def test_without_a_staff_session_pages_ask_for_a_sign_in_and_nothing_changes(
    shop: Quart, shopper: Client, who: str
) -> None:
    client = shopper if who == "shopper" else shop.test_client()
    before = await snapshot(shop)
    for rule in admin_rules(shop):
        url = url_of(rule)
        for method in methods_of(rule):
            page = await request(client, method, url)
            assert page.status_code == 303, (method, url, page.status_code)
            assert page.headers["Location"].startswith(LOGIN), (method, url)
            fragment = await request(client, method, url, htmx=True)
            assert fragment.status_code == 401, (method, url, fragment.status_code)
            assert "Your sign-in has ended" in await fragment.get_data(as_text=True)
    assert await snapshot(shop) == before


async def test_a_page_asked_for_comes_back_after_the_sign_in(shop: Quart) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    asked = await client.get("/admin/orders?status=to-ship")
    assert asked.headers["Location"] == "/admin/login?next=/admin/orders?status%3Dto-ship"
    signed = await client.post(
        asked.headers["Location"],
        form={
            "email": STAFF_EMAIL,
            "password": "violet kettle umbrella 1987 orbit",
            "csrf_token": await csrf_token(client),
        },
    )
    assert signed.status_code == 303
    assert signed.headers["Location"] == "/admin/orders?status=to-ship"


async def test_a_disabled_accounts_session_is_refused_at_once(shop: Quart) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    await sign_in(client, STAFF_EMAIL)
    assert (await client.get("/admin")).status_code == 200
    await accounts_of(shop).set_disabled(STAFF_EMAIL, True, Actor(TERMINAL))
    for rule in admin_rules(shop):
        if "GET" in methods_of(rule):
            refused = await client.get(url_of(rule))
            assert refused.status_code == 303, rule.rule
            assert refused.headers["Location"].startswith(LOGIN)


async def test_staff_get_403_on_every_owner_route_and_change_nothing(
    shop: Quart, packer: Client
) -> None:
    declared = policies(shop)
    owners = [rule for rule in admin_rules(shop) if declared[rule.endpoint].role == OWNER]
    assert {rule.endpoint for rule in owners} >= {"admin.catalog", "admin.audit"}
    before = await snapshot(shop)
    for rule in owners:
        for method in methods_of(rule):
            for htmx in (False, True):
                refused = await request(packer, method, url_of(rule), htmx=htmx)
                assert refused.status_code == 403, (method, rule.rule, refused.status_code)
    assert await snapshot(shop) == before


async def test_staff_reach_every_staff_page(shop: Quart, packer: Client) -> None:
    declared = policies(shop)
    for rule in admin_rules(shop):
        if declared[rule.endpoint].role == STAFF and "GET" in methods_of(rule):
            if rule.arguments:
                continue  # pages of one thing: their own tests open a real one
            page = await packer.get(url_of(rule))
            assert page.status_code == 200, rule.rule


async def test_every_back_office_answer_is_never_stored_indexed_or_referred(
    shop: Quart, owner: Client
) -> None:
    for url in ("/admin", LOGIN, "/admin/no-such-page"):
        for client in (owner, shop.test_client()):
            response = await client.get(url)
            assert response.headers["Cache-Control"] == "no-store", url
            assert response.headers["X-Robots-Tag"] == "noindex, nofollow", url
            assert response.headers["Referrer-Policy"] == "no-referrer", url
            assert "default-src 'self'" in response.headers["Content-Security-Policy"], url
