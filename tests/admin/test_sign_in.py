"""Signing in to the back office: one answer for every refusal, a lockout that ends, limits per
address and per account, a new cookie at each sign-in, both timeouts, and signing out."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart, Response

from bookshop import create_app
from bookshop.admin import accounts as accounts_module
from bookshop.admin.sessions import COOKIE
from bookshop.config import Settings
from tests.fixtures.app import Client, csrf_token, without_csrf_tokens
from tests.fixtures.staff import PASSWORD, STAFF_EMAIL, add_staff, sign_in

WRONG = "not the password at all 7731"


class Clock:
    """The accounts' clock, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.moment = datetime.now(UTC)
        monkeypatch.setattr(accounts_module, "now", lambda: self.moment)

    def move(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def staff_cookie(response: Response) -> str | None:
    """The staff cookie's value this response sets, if it sets one."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{COOKIE}="):
            return header.split(";")[0].split("=", 1)[1]
    return None


def refusal_words(body: bytes) -> bytes:
    return (
        without_csrf_tokens(body)
        .replace(STAFF_EMAIL.encode(), b"EMAIL")
        .replace(b"nobody@bookshop.test", b"EMAIL")
    )


async def opens_back_office(client: Client) -> bool:
    return (await client.get("/admin")).status_code == 200


async def test_the_right_password_signs_in_with_a_cookie_only_the_back_office_gets(
    shop: Quart,
) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    response = await sign_in(client, STAFF_EMAIL)
    assert response.status_code == 303 and response.headers["Location"] == "/admin"
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    assert "Path=/admin" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http in development and tests
    assert "Max-Age" not in cookie and "Expires" not in cookie  # gone when the browser closes
    assert await opens_back_office(client)


async def test_the_staff_cookie_is_secure_in_production(settings: Settings) -> None:
    production = dataclasses.replace(settings, env="production", secret_key="x" * 40)
    async with create_app(production).test_app() as app:
        await add_staff(app.app, STAFF_EMAIL)  # type: ignore[arg-type]
        client = app.test_client()
        token = await csrf_token(client)
        response = await client.post(
            "/admin/login",
            form={"email": STAFF_EMAIL, "password": PASSWORD, "csrf_token": token},
            scheme="https",
        )
    assert response.status_code == 303
    assert "Secure" in str(staff_cookie_header(response))


def staff_cookie_header(response: Response) -> str | None:
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)), None)


async def test_a_wrong_password_and_an_unknown_account_get_the_same_answer_and_work(
    shop: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_staff(shop, STAFF_EMAIL)
    checked: list[str | None] = []
    verify = accounts_module.verify

    async def counting(stored: str | None, password: str) -> bool:
        checked.append(stored)
        return await verify(stored, password)

    monkeypatch.setattr(accounts_module, "verify", counting)
    wrong = await sign_in(shop.test_client(), STAFF_EMAIL, WRONG)
    unknown = await sign_in(shop.test_client(), "nobody@bookshop.test", WRONG)
    assert wrong.status_code == unknown.status_code == 401
    assert refusal_words(await wrong.get_data()) == refusal_words(await unknown.get_data())
    assert "open the back office. After 5 wrong tries" in await wrong.get_data(as_text=True)
    assert staff_cookie(wrong) is None and staff_cookie(unknown) is None
    # Both ran one Argon2 check (the unknown account against a decoy hash): the same time.
    assert len(checked) == 2 and checked[0] is not None and checked[1] is None


async def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes_only(
    shop: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    for _ in range(5):
        assert (await sign_in(client, STAFF_EMAIL, WRONG)).status_code == 401
    locked = await sign_in(client, STAFF_EMAIL)
    wrong = await sign_in(shop.test_client(), STAFF_EMAIL, WRONG)
    assert locked.status_code == 401  # even the right password, in the same words
    assert refusal_words(await locked.get_data()) == refusal_words(await wrong.get_data())
    clock.move(minutes=14)
    assert (await sign_in(client, STAFF_EMAIL)).status_code == 401
    clock.move(minutes=2)
    assert (await sign_in(client, STAFF_EMAIL)).status_code == 303
    assert await opens_back_office(client)


async def test_the_sign_in_is_limited_per_address_and_per_account(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def wrong_at_once(stored: str | None, password: str) -> bool:
        return False

    # The limits count requests over time: Argon2's tenths of a second each would spread them.
    monkeypatch.setattr(accounts_module, "verify", wrong_at_once)
    app = create_app(dataclasses.replace(settings, rate_limits=True))
    async with app.test_app() as test_app:
        await add_staff(test_app.app, STAFF_EMAIL)  # type: ignore[arg-type]
        client = test_app.test_client()
        token = await csrf_token(client)

        async def attempt(email: str, address: str) -> Response:
            return await client.post(
                "/admin/login",
                form={"email": email, "password": WRONG, "csrf_token": token},
                scope_base={"client": (address, 1)},
            )

        # One account guessed at from many addresses: 10 a minute, then 429.
        statuses = [(await attempt(STAFF_EMAIL, f"10.0.1.{n}")).status_code for n in range(11)]
        assert statuses == [401] * 10 + [429]
        refused = await attempt(STAFF_EMAIL, "10.0.2.1")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "Too many requests" in await refused.get_data(as_text=True)
        # Many accounts from one address: 20 a minute, then 429.
        statuses = [
            (await attempt(f"guess{n}@bookshop.test", "10.0.3.1")).status_code for n in range(21)
        ]
        assert statuses == [401] * 20 + [429]


async def test_each_sign_in_gets_a_new_cookie_and_ends_the_one_before(shop: Quart) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    first = staff_cookie(await sign_in(client, STAFF_EMAIL))
    second = staff_cookie(await sign_in(client, STAFF_EMAIL))
    assert first and second and first != second
    # The cookie from before the sign-in (planted, or left behind) no longer opens anything.
    stale = shop.test_client()
    stale.set_cookie("localhost", COOKIE, first, path="/admin")
    assert not await opens_back_office(stale)
    assert await opens_back_office(client)


async def test_a_forged_cookie_opens_nothing(shop: Quart) -> None:
    client = shop.test_client()
    client.set_cookie("localhost", COOKIE, "forged.value.here", path="/admin")
    assert not await opens_back_office(client)


async def test_thirty_idle_minutes_end_a_session(
    shop: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    await sign_in(client, STAFF_EMAIL)
    clock.move(minutes=29)
    assert await opens_back_office(client)  # and this use restarts the idle time
    clock.move(minutes=29)
    assert await opens_back_office(client)
    clock.move(minutes=31)
    ended = await client.get("/admin")
    assert ended.status_code == 303 and ended.headers["Location"].startswith("/admin/login")
    clock.move(minutes=-31)
    assert not await opens_back_office(client)  # ended for good, not just until the clock says


async def test_twelve_hours_end_a_session_however_busy(
    shop: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    await sign_in(client, STAFF_EMAIL)
    for _ in range(11 * 3):
        clock.move(minutes=20)
        assert await opens_back_office(client)
    clock.move(hours=1, minutes=1)
    assert not await opens_back_office(client)


async def test_a_sign_in_without_the_csrf_token_is_refused(shop: Quart) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    refused = await client.post("/admin/login", form={"email": STAFF_EMAIL, "password": PASSWORD})
    assert refused.status_code == 403
    assert staff_cookie(refused) is None
    assert not await opens_back_office(client)


async def test_signing_out_ends_the_session_and_its_cookie(shop: Quart) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    cookie = staff_cookie(await sign_in(client, STAFF_EMAIL))
    token = await csrf_token(client)
    out = await client.post("/admin/logout", form={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == "/admin/login?out=1"
    assert any(
        h.startswith(f"{COOKIE}=;") or "Max-Age=0" in h
        for h in out.headers.getlist("Set-Cookie")
        if h.startswith(COOKIE)
    )
    assert "You have signed out." in await (await client.get(out.headers["Location"])).get_data(
        as_text=True
    )
    replay = shop.test_client()
    assert cookie is not None
    replay.set_cookie("localhost", COOKIE, cookie, path="/admin")
    assert not await opens_back_office(replay)


@pytest.mark.parametrize(
    "wanted", ["https://evil.example/admin", "//evil.example/admin", "/admin\\@evil", "/cart"]
)
async def test_after_the_sign_in_only_a_back_office_page_is_gone_to(
    shop: Quart, wanted: str
) -> None:
    await add_staff(shop, STAFF_EMAIL)
    client = shop.test_client()
    token = await csrf_token(client)
    response = await client.post(
        "/admin/login",
        query_string={"next": wanted},
        form={"email": STAFF_EMAIL, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin"


async def test_a_signed_in_visit_to_the_form_goes_on_to_the_back_office(owner: Client) -> None:
    response = await owner.get("/admin/login")
    assert response.status_code == 303 and response.headers["Location"] == "/admin"
