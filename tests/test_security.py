"""Security: CSRF, headers, cookies, rate limits, input limits, no secret in pages or logs."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quart import Quart
from werkzeug.datastructures import Headers

from bookshop import create_app
from bookshop.config import Settings
from bookshop.security import LOGIN, PAY, STATUS, mask_token, policies, unmask_token
from tests.fixtures.app import (
    HTMX,
    Client,
    csrf_token,
    deliver_to_singapore,
    delivered,
    fuzzing_the_app,
    post,
    shown,
)
from tests.fixtures.paying import DECLINED, THREE_D_SECURE, press_pay
from tests.fixtures.sandbox import SandboxServer

POST_ROUTES = [
    ("/checkout/code/quantity", {"quantity": "3"}),
    ("/checkout/code/pay", shown("code", 3, email="a@example.com")),
    ("/cart/add", {"book_id": "code"}),
]


async def intent_of(
    client: Client, sandbox: SandboxServer, book: str = "code", card: str = DECLINED
) -> tuple[str, str]:
    """A payment of a book bought now (declined unless `card` says otherwise): its intent and
    client secret."""
    response = await press_pay(client, sandbox, f"/checkout/{book}", card)
    assert response.status_code in (200, 402)
    async with client.session_transaction() as session:
        saved = session.get("checkouts", {}).get(book)
    intent_id = str(saved["intent"]) if saved else re.findall(r'data-intent="(pi_\w+)"',
        await response.get_data(as_text=True))[0]  # fmt: skip
    secret = sandbox.client().v1.payment_intents.retrieve(intent_id).client_secret
    assert secret
    return intent_id, secret


@pytest.mark.parametrize(("url", "form"), POST_ROUTES)
async def test_post_without_a_csrf_token_is_refused_and_changes_nothing(
    client: Client, sandbox: SandboxServer, url: str, form: dict[str, str]
) -> None:
    intent_id, _ = await intent_of(client, sandbox)
    for headers, extra in [
        ({}, {}),
        (HTMX, {}),
        ({}, {"csrf_token": "forged"}),
        ({**HTMX, "X-CSRF-Token": "forged"}, {}),
    ]:
        response = await client.post(url, form={**form, **extra}, headers=headers)
        assert response.status_code == 403
        assert "expired" in await response.get_data(as_text=True)
    intent = sandbox.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.amount, intent.status) == (delivered(2900, 1), "requires_payment_method")
    cart = await client.get("/cart")
    assert "Your cart is empty" in await cart.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "form", "htmx_status", "plain_status"),
    # The pay step reads the form past the token check: without a confirmation token, a 400.
    [(*POST_ROUTES[0], 200, 303), (*POST_ROUTES[1], 400, 400), (*POST_ROUTES[2], 200, 303)],
)
async def test_post_with_the_sessions_token_is_accepted_as_header_or_field(
    client: Client, url: str, form: dict[str, str], htmx_status: int, plain_status: int
) -> None:
    by_header = await post(client, url, form, headers=HTMX)
    by_field = await post(client, url, form)
    assert by_header.status_code == htmx_status
    assert by_field.status_code == plain_status


async def test_another_sessions_token_is_refused(app: Quart) -> None:
    mine = await deliver_to_singapore(app.test_client())
    theirs = await deliver_to_singapore(app.test_client())
    await mine.get("/checkout/code")
    stolen = await csrf_token(theirs)
    response = await mine.post(
        "/checkout/code/quantity", form={"quantity": "2", "csrf_token": stolen}
    )
    assert response.status_code == 403


def assert_security_headers(headers: Headers, sandbox: SandboxServer) -> None:
    policy = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == f"'self' {sandbox.url}"
    assert directives["frame-src"] == sandbox.url
    assert directives["connect-src"] == f"'self' {sandbox.url}"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer")


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/", {}, 200),
        ("/?q=code", HTMX, 200),
        ("/books/code", {}, 200),
        ("/no/such/page", {}, 404),
        ("/checkout/nope", HTMX, 404),
        ("/static/css/shop.css", {}, 200),
        ("/static/vendor/htmx/htmx.min.js", {}, 200),
        ("/covers/code.svg", {}, 200),
        ("/healthz", {}, 200),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: Client, sandbox: SandboxServer, url: str, headers: dict[str, str], status: int
) -> None:
    response = await client.get(url, headers=headers)
    assert response.status_code == status
    assert_security_headers(response.headers, sandbox)
    assert "Strict-Transport-Security" not in response.headers
    if response.mimetype == "text/html":
        # With no 'unsafe-inline', the one inline script a page may carry is the book page's
        # JSON-LD: a data block, which the CSP does not run.
        body = await response.get_data(as_text=True)
        inline = re.findall(r"<script\b(?![^>]*\bsrc=)[^>]*>", body)
        json_ld = ['<script type="application/ld+json">']
        assert inline == (json_ld if url.startswith("/books/") else [])


async def test_checkout_and_receipt_pages_are_never_cached_nor_referred(
    client: Client, sandbox: SandboxServer
) -> None:
    intent_id, secret = await intent_of(client, sandbox, card=THREE_D_SECURE)
    for url in (
        "/checkout/working-in-public",  # one still to pay (a paid one sends to its receipt)
        f"/success?payment_intent={intent_id}&payment_intent_client_secret={secret}",
        f"/payment/status?payment_intent={intent_id}&payment_intent_client_secret={secret}",
    ):
        response = await client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    shop = await client.get("/")
    assert "no-store" not in shop.headers.get("Cache-Control", "")


async def test_hsts_is_sent_over_https(client: Client) -> None:
    response = await client.get("/", scheme="https")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_stripe_hosts_are_allowed_in_real_mode(settings: Settings) -> None:
    real = dataclasses.replace(
        settings,
        stripe_api_base=None,
        stripe_js_url="https://js.stripe.com/v3/",
        stripe_secret_key="sk_test_x",
        stripe_publishable_key="pk_test_x",
    )
    response = await create_app(real).test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' https://js.stripe.com https://*.js.stripe.com" in policy
    assert (
        "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com" in policy
    )
    assert "connect-src 'self' https://api.stripe.com" in policy


async def test_session_cookie_is_httponly_and_lax(client: Client) -> None:
    response = await client.get("/checkout/code")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


async def test_session_cookie_is_secure_in_production(settings: Settings) -> None:
    production = dataclasses.replace(settings, env="production", secret_key="x" * 40)
    async with create_app(production).test_app() as app:
        client = await deliver_to_singapore(app.test_client())
        response = await client.get("/checkout/code")
    assert "Secure" in response.headers["Set-Cookie"]


async def test_the_shop_pages_cart_forms_carry_the_token_of_the_session_they_start(
    client: Client,
) -> None:
    # Each book's "Add to cart" is a POST: the grid needs the session's CSRF token.
    first = await client.get("/?q=the")
    assert "HttpOnly" in first.headers["Set-Cookie"]
    for headers in ({}, HTMX):
        response = await client.get("/?q=the", headers=headers)
        body = await response.get_data(as_text=True)
        assert response.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', body)
        assert token is not None
        added = await client.post("/cart/add", form={"book_id": "code", "csrf_token": token[1]})
        assert added.status_code == 303


def tokens_in(body: str) -> set[str]:
    """Every CSRF token a page carries: the meta tag, htmx's header, each form's field."""
    return set(
        re.findall(r'(?:name="csrf-token" content|name="csrf_token" value)="([^"]+)"', body)
        + re.findall(r'"X-CSRF-Token": "([^"]+)"', body)
    )


async def test_each_response_carries_the_token_masked_afresh_and_the_same_throughout(
    client: Client,
) -> None:
    first = tokens_in(await (await client.get("/cart")).get_data(as_text=True))
    again = tokens_in(await (await client.get("/cart")).get_data(as_text=True))
    assert len(first) == len(again) == 1
    assert first != again
    async with client.session_transaction() as session:
        secret = session["csrf"]
    assert secret not in first | again


async def test_a_masked_token_passes_as_header_and_as_field(client: Client) -> None:
    for _ in range(2):
        (token,) = tokens_in(await (await client.get("/cart")).get_data(as_text=True))
        by_field = await client.post("/cart/add", form={"book_id": "code", "csrf_token": token})
        by_header = await client.post(
            "/cart/add", form={"book_id": "code"}, headers={**HTMX, "X-CSRF-Token": token}
        )
        assert (by_field.status_code, by_header.status_code) == (303, 200)


async def test_an_unmasked_token_from_a_page_served_before_masking_still_passes(
    client: Client,
) -> None:
    await client.get("/cart")
    async with client.session_transaction() as session:
        secret = session["csrf"]
    response = await client.post("/cart/add", form={"book_id": "code", "csrf_token": secret})
    assert response.status_code == 303


async def test_forged_and_mangled_masked_tokens_are_refused(client: Client) -> None:
    (token,) = tokens_in(await (await client.get("/cart")).get_data(as_text=True))
    flipped = ("A" if token[10] != "A" else "B").join((token[:10], token[11:]))
    forged = [
        flipped,  # one character of the masked secret changed
        token[:-2],  # cut short
        token + "AA",  # too long
        mask_token(secrets.token_bytes(32)),  # well formed, another secret
        "é" * 86,  # not ASCII
        "!" * 86,  # not base64
    ]
    for sent in forged:
        by_field = await client.post("/cart/add", form={"book_id": "code", "csrf_token": sent})
        by_header = await client.post(
            "/cart/add", form={"book_id": "code"}, headers={**HTMX, "X-CSRF-Token": sent}
        )
        assert by_field.status_code == by_header.status_code == 403, sent


def test_masking_round_trips_and_never_repeats() -> None:
    secret = secrets.token_bytes(32)
    masked = {mask_token(secret) for _ in range(100)}
    assert len(masked) == 100
    assert {unmask_token(token) for token in masked} == {secret}


async def test_oversize_body_is_refused_with_413(client: Client) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/checkout/code/quantity",
        form={"quantity": "1", "csrf_token": token, "padding": "x" * 70_000},
    )
    assert response.status_code == 413


async def test_overlong_query_is_refused_with_414(client: Client) -> None:
    response = await client.get("/?q=a&pad=" + "x" * 3000)
    assert response.status_code == 414
    assert "too long" in await response.get_data(as_text=True)


async def test_oversize_headers_are_refused_with_431(client: Client) -> None:
    response = await client.get("/", headers={"X-Padding": "x" * 20_000})
    assert response.status_code == 431
    assert "too large" in await response.get_data(as_text=True)
    assert (await client.get("/", headers={"X-Padding": "x" * 2_000})).status_code == 200


def limited(settings: Settings, **rates: str) -> Quart:
    return create_app(dataclasses.replace(settings, rate_limits=True, **rates))


async def pay_with_nothing_filled_in(shopper: Client, address: str | None = None) -> int:
    """Press Pay with an empty form: a 422 from the pay step, unless the rate limit answers
    first. No Stripe call, so only the limit decides."""
    token = await csrf_token(shopper)
    scope = {"client": (address, 1)} if address else None
    response = await shopper.post(
        "/checkout/code/pay", form={"csrf_token": token}, scope_base=scope
    )
    return response.status_code


async def test_the_pay_step_rate_limit_per_client_answers_429_then_recovers(
    settings: Settings,
) -> None:
    app = limited(settings, rate_limit_pay="2/second")
    async with app.test_app():
        client = await deliver_to_singapore(app.test_client())
        assert [await pay_with_nothing_filled_in(client) for _ in range(2)] == [422, 422]
        token = await csrf_token(client)
        refused = await client.post("/checkout/code/pay", form={"csrf_token": token})
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "Too many requests" in await refused.get_data(as_text=True)
        # Another address is not held back by this one, and page views never count.
        assert await pay_with_nothing_filled_in(client, "10.9.9.9") == 422
        assert (await client.get("/checkout/code")).status_code == 200
        await asyncio.sleep(1.1)
        assert await pay_with_nothing_filled_in(client) == 422


async def test_the_pay_step_rate_limit_for_all_clients_caps_many_addresses(
    settings: Settings,
) -> None:
    app = limited(settings, rate_limit_pay="100/second", rate_limit_pay_all="3/minute")
    async with app.test_app():
        client = await deliver_to_singapore(app.test_client())
        statuses = [await pay_with_nothing_filled_in(client, f"10.0.0.{n}") for n in range(5)]
        assert statuses == [422, 422, 422, 429, 429]


async def test_payment_status_is_rate_limited(settings: Settings) -> None:
    app = limited(settings, rate_limit_status="2/minute")
    async with app.test_app():
        client = await deliver_to_singapore(app.test_client())
        statuses = [(await client.get("/payment/status")).status_code for _ in range(3)]
        assert statuses == [400, 400, 429]


async def test_rate_limits_ignore_a_forged_forwarded_for(settings: Settings) -> None:
    app = limited(settings, rate_limit_pay="1/minute")
    async with app.test_app():
        client = await deliver_to_singapore(app.test_client())
        assert await pay_with_nothing_filled_in(client) == 422
        token = await csrf_token(client)
        forged = await client.post(
            "/checkout/code/pay", form={"csrf_token": token}, headers={"X-Forwarded-For": "1.2.3.4"}
        )
        assert forged.status_code == 429


def secrets_of(settings: Settings) -> list[str]:
    return [settings.stripe_secret_key, settings.stripe_webhook_secret, settings.secret_key]


async def test_no_secret_reaches_a_page_or_a_log_line(
    client: Client,
    settings: Settings,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    intent_id, secret = await intent_of(client, sandbox)
    good = f"payment_intent={intent_id}&payment_intent_client_secret={secret}"
    requests = [
        ("GET", "/", {}),
        ("GET", "/?q=" + "x" * 200, {}),
        ("GET", "/checkout/code?quantity=99", {}),
        ("GET", "/checkout/code?quantity=x", {}),
        ("GET", f"/payment/status?{good}", {}),
        ("GET", f"/payment/status?{good}", HTMX),
        ("GET", f"/success?payment_intent={intent_id}&payment_intent_client_secret=bad", {}),
        ("POST", "/checkout/code/quantity", {}),
        ("POST", "/webhooks/stripe", {}),
        ("GET", "/nope", {}),
    ]
    bodies = []
    for method, url, headers in requests:
        response = await client.open(url, method=method, headers=headers)
        bodies.append(await response.get_data(as_text=True))
    sandbox.set_faults(fail_rate=1.0)
    for url in ("/checkout/code?quantity=2", f"/payment/status?{good}"):
        bodies.append(await (await client.get(url)).get_data(as_text=True))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in secrets_of(settings):
        assert all(value not in body for body in bodies)
        assert value not in logged
    assert secret not in logged  # the client secret goes only to its shopper's page


FUZZ_PATHS = [
    "/",
    "/checkout/code",
    "/checkout/{text}",
    "/checkout",
    "/payment/status",
    "/success",
    "/covers/{text}.svg",
    "/healthz",
]


@fuzzing_the_app(examples=60)
@given(
    path=st.sampled_from(FUZZ_PATHS),
    text=st.text(max_size=40),
    params=st.dictionaries(
        st.sampled_from(
            ["q", "quantity", "item", "payment_intent", "payment_intent_client_secret", "x"]
        ),
        st.text(max_size=300),
        max_size=4,
    ),
    headers=st.dictionaries(
        st.sampled_from(["HX-Request", "HX-History-Restore-Request", "HX-Request-Type", "Accept"]),
        st.sampled_from(["true", "false", "full", "partial", "", "text/html", "*/*"]),
        max_size=3,
    ),
    method=st.sampled_from(["GET", "POST", "HEAD"]),
)
async def test_fuzzed_requests_never_crash_or_leak(
    client: Client,
    settings: Settings,
    path: str,
    text: str,
    params: dict[str, str],
    headers: dict[str, str],
    method: str,
) -> None:
    url = path.replace("{text}", text.replace("/", "").replace("?", "") or "x")
    response = await client.open(url, method=method, query_string=params, headers=headers)
    body = await response.get_data(as_text=True)
    assert response.status_code < 500, (url, params, headers, response.status_code)
    assert "Traceback" not in body
    for value in secrets_of(settings):
        assert value not in body


async def test_every_route_declares_its_policy_where_it_is_defined(app: Quart) -> None:
    declared = policies(app)
    routed = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert routed <= set(declared)
    # What each kind of route must have: shoppers' own pages private, the charging and reading
    # of payments rate-limited and never compressed, Stripe's webhook signed instead of CSRF.
    assert {name for name, each in declared.items() if each.rate_limit == PAY} == {
        "checkout.pay_cart",
        "checkout.pay_book",
    }
    assert {name for name, each in declared.items() if each.rate_limit == STATUS} == {
        "checkout.payment_status",
        "checkout.success",
    }
    assert {name for name, each in declared.items() if each.rate_limit == LOGIN} == {"admin.login"}
    assert {name for name, each in declared.items() if each.secret} == {
        "checkout.pay_cart",
        "checkout.pay_book",
        "checkout.payment_status",
        "checkout.success",
    }
    assert {name for name, each in declared.items() if each.csrf_exempt} <= {
        "webhooks.stripe_webhook"
    }
    private = {name for name, each in declared.items() if each.private}
    assert {"cart.page", "checkout.cart", "checkout.page", "checkout.address"} <= private
    assert not private & {"shop.index", "shop.book", "seo.sitemap", "static"}


async def test_a_route_without_a_policy_is_refused_by_name(settings: Settings) -> None:
    # security.install asks for every route's policy as the app is built, so a route added
    # without one stops create_app with this error.
    app = create_app(settings)

    @app.get("/forgotten")
    async def forgotten() -> str:
        return "reached"

    with pytest.raises(RuntimeError, match="route 'forgotten' declares no policy"):
        policies(app)


@pytest.mark.parametrize("public_url", [None, "https://books.example"])
@pytest.mark.parametrize(
    ("path", "merged"),
    [("/books//code", "/books/code"), ("//books//code", "/books/code")],
)
async def test_a_merged_slash_redirect_is_never_built_on_a_forged_host(
    settings: Settings, public_url: str | None, path: str, merged: str
) -> None:
    app = create_app(dataclasses.replace(settings, public_url=public_url))
    async with app.test_app():
        response = await app.test_client().get(
            path, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        )
    assert response.status_code == 308
    # On the public URL, or the path alone (one slash: `//host` would name another site).
    assert response.headers["Location"] == (public_url or "") + merged
