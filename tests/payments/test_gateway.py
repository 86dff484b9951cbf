"""The gateway against the sandbox: paying with a ConfirmationToken, reading tokens and results,
Stripe's errors as the shop's, the pool."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from bookshop.address import Address
from bookshop.basket import Basket, line, one_book
from bookshop.config import Settings
from bookshop.payments import (
    Intent,
    IntentLocked,
    PaymentNotFound,
    Payments,
    PaymentsUnavailable,
)
from tests.fixtures.app import BOOKS, SINGAPORE, intents_of_checkout
from tests.fixtures.paying import (
    DECLINED,
    EMAIL,
    EXPIRED,
    INSUFFICIENT_FUNDS,
    SINGAPORE_SHIPPING,
    THREE_D_SECURE,
    VISA,
    confirmation_token,
)
from tests.fixtures.sandbox import SandboxServer

BOOK = BOOKS["working-in-public"]
assert BOOK is not None
RETURN_URL = "http://127.0.0.1/checkout/success"
HOME = Address(**SINGAPORE)
OFFICE = dataclasses.replace(HOME, line1="2 Other Road")


@pytest.fixture
def payments(settings: Settings) -> Iterator[Payments]:
    gateway = Payments(settings)
    yield gateway
    gateway.close()


def checkout_id() -> str:
    return secrets.token_urlsafe(12)


async def pay(
    payments: Payments,
    basket: Basket,
    checkout: str,
    token: str,
    current: Intent | None = None,
) -> Intent:
    """Pay as the pay step does: the page's email, the shop's return URL."""
    return await payments.pay(basket, checkout, token, EMAIL, RETURN_URL, current)


def stored(sandbox: SandboxServer, intent_id: str) -> Any:
    """The intent as the sandbox keeps it, read with the secret key."""
    return sandbox.client().v1.payment_intents.retrieve(intent_id)


def authenticate(sandbox: SandboxServer, intent: Intent, result: str) -> None:
    """Answer the bank's 3D Secure challenge as the shopper would in Stripe.js."""
    answered = httpx.post(
        f"{sandbox.url}/_sandbox/3ds/{intent.id}",
        data={"client_secret": intent.client_secret, "result": result},
        timeout=10,
    )
    assert answered.status_code == 200


async def test_a_first_pay_creates_one_intent_priced_from_the_catalog_and_confirms_it(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    basket = one_book(BOOK, 3).delivered(HOME, 500)
    intent = await pay(payments, basket, checkout, confirmation_token(sandbox, VISA))
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 3 * 2800 + 500, "sgd")
    assert intent.client_secret.startswith(intent.id + "_secret_")
    assert (intent.checkout_id, intent.shipping, intent.address) == (checkout, 500, HOME)
    assert intent.email == EMAIL
    # The answer carries the receipt: latest_charge comes expanded.
    assert intent.charge is not None and intent.charge.amount == intent.amount
    kept = stored(sandbox, intent.id)
    assert kept.metadata.to_dict() == {
        "checkout": checkout,
        "lines_1": f"{BOOK.id}:3:2800",
        "shipping": "500",
    }
    assert "3 x Working in Public" in (kept.description or "")
    assert [found.id for found in intents_of_checkout(sandbox, checkout)] == [intent.id]


@pytest.mark.parametrize("method", [VISA, DECLINED])
async def test_a_retried_pay_with_the_same_token_replays_instead_of_creating_a_second_intent(
    payments: Payments, sandbox: SandboxServer, method: str
) -> None:
    # The first answer was lost on the way back: same checkout, same token, so the same key.
    checkout, token = checkout_id(), confirmation_token(sandbox, method)
    first = await pay(payments, one_book(BOOK, 2), checkout, token)
    second = await pay(payments, one_book(BOOK, 2), checkout, token)
    assert second == first
    assert [found.id for found in intents_of_checkout(sandbox, checkout)] == [first.id]


async def test_a_token_that_paid_one_order_never_pays_another_and_reads_as_unavailable(
    payments: Payments, sandbox: SandboxServer
) -> None:
    # Same checkout and token (so the same key), another address: Stripe refuses the key.
    checkout, token = checkout_id(), confirmation_token(sandbox, VISA)
    first = await pay(payments, one_book(BOOK, 1).delivered(HOME, 300), checkout, token)
    with pytest.raises(PaymentsUnavailable):
        await pay(payments, one_book(BOOK, 1).delivered(OFFICE, 300), checkout, token)
    assert [found.id for found in intents_of_checkout(sandbox, checkout)] == [first.id]
    assert stored(sandbox, first.id).shipping.address.line1 == HOME.line1


async def test_a_retry_after_a_decline_for_another_quantity_updates_and_pays_the_same_intent(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    declined = await pay(
        payments, one_book(BOOK, 1), checkout, confirmation_token(sandbox, DECLINED)
    )
    assert declined.outcome == "declined"
    more = one_book(BOOK, 4)
    paid = await pay(payments, more, checkout, confirmation_token(sandbox, VISA), declined)
    assert (paid.id, paid.status, paid.amount) == (declined.id, "succeeded", 4 * 2800)
    assert paid.lines_key == more.key
    assert paid.charge is not None and paid.charge.amount == 4 * 2800
    assert [found.id for found in intents_of_checkout(sandbox, checkout)] == [declined.id]


async def test_a_retry_after_a_decline_for_another_address_ships_the_same_intent_there(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout, books = checkout_id(), one_book(BOOK, 1)
    declined = await pay(
        payments, books.delivered(HOME, 300), checkout, confirmation_token(sandbox, DECLINED)
    )
    assert declined.address == HOME
    paid = await pay(
        payments,
        books.delivered(OFFICE, 300),
        checkout,
        confirmation_token(sandbox, VISA),
        declined,
    )
    assert (paid.id, paid.status, paid.address) == (declined.id, "succeeded", OFFICE)
    assert stored(sandbox, declined.id).shipping.address.line1 == OFFICE.line1


async def test_a_retry_after_a_decline_for_the_same_order_confirms_without_updating(
    payments: Payments, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates: list[dict[str, Any]] = []
    update = payments._update

    async def counted(intent_id: str, **params: Any) -> Intent:
        updates.append(params)
        return await update(intent_id, **params)

    monkeypatch.setattr(payments, "_update", counted)
    checkout, basket = checkout_id(), one_book(BOOK, 2).delivered(HOME, 400)
    declined = await pay(payments, basket, checkout, confirmation_token(sandbox, DECLINED))
    # The intent as Stripe read it back (amount, lines, shipping, address) is this basket.
    paid = await pay(payments, basket, checkout, confirmation_token(sandbox, VISA), declined)
    assert (paid.id, paid.status) == (declined.id, "succeeded")
    assert updates == []


async def test_a_cart_of_several_books_is_one_intent_whose_metadata_rebuilds_the_order(
    payments: Payments, sandbox: SandboxServer
) -> None:
    books = [BOOKS[book_id] for book_id in ("code", "hackers", "mythical-man-month")]
    basket = Basket(tuple(line(book, n) for n, book in enumerate(books, start=1) if book))
    checkout = checkout_id()
    intent = await pay(payments, basket, checkout, confirmation_token(sandbox, DECLINED))
    assert intent.amount == basket.total == 2900 + 2 * 2200 + 3 * 3200
    assert intent.lines_key == basket.key
    # Retried without two lines: the same intent; its metadata names exactly what is left.
    smaller = Basket(basket.lines[:1])
    paid = await pay(payments, smaller, checkout, confirmation_token(sandbox, VISA), intent)
    assert (paid.id, paid.amount, paid.lines_key) == (intent.id, 2900, smaller.key)
    assert stored(sandbox, intent.id).metadata.to_dict() == {
        "checkout": checkout,
        "lines_1": "code:1:2900",
        "shipping": "0",
    }


async def test_a_retry_while_3d_secure_is_under_way_pays_what_was_confirmed_not_a_new_order(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    waiting = await pay(
        payments, one_book(BOOK, 1), checkout, confirmation_token(sandbox, THREE_D_SECURE)
    )
    assert waiting.status == "requires_action"
    # The shopper gives up on the challenge and pays with another card, from a bigger basket.
    paid = await pay(
        payments, one_book(BOOK, 5), checkout, confirmation_token(sandbox, VISA), waiting
    )
    assert (paid.id, paid.status, paid.amount) == (waiting.id, "succeeded", 2800)
    assert paid.lines_key == one_book(BOOK, 1).key


@pytest.mark.parametrize("status", ["succeeded", "canceled"])
async def test_paying_a_paid_or_canceled_intent_is_locked_and_leaves_the_token_unspent(
    payments: Payments, sandbox: SandboxServer, status: str
) -> None:
    checkout = checkout_id()
    first = await pay(
        payments,
        one_book(BOOK, 1),
        checkout,
        confirmation_token(sandbox, VISA if status == "succeeded" else DECLINED),
    )
    if status == "canceled":
        sandbox.client().v1.payment_intents.cancel(first.id)
    current = await payments.intent(first.id)
    assert current.status == status
    token = confirmation_token(sandbox, VISA)
    with pytest.raises(IntentLocked):
        await pay(payments, one_book(BOOK, 2), checkout, token, current)
    assert stored(sandbox, first.id).amount == 2800
    assert not (await payments.confirmation_token(token)).used


async def test_a_paid_intents_result_is_a_receipt_read_with_the_secret_key(
    payments: Payments, sandbox: SandboxServer
) -> None:
    token = confirmation_token(sandbox, "pm_card_mastercard")
    intent = await pay(payments, one_book(BOOK, 2), checkout_id(), token)
    payment = await payments.payment_result(intent.id, intent.client_secret)
    assert payment.outcome == "succeeded"
    receipt = payment.charge
    assert receipt is not None
    assert receipt.id.startswith("ch_") and payment.charge_id == receipt.id
    assert (receipt.amount, receipt.currency) == (5600, "sgd")
    assert (receipt.card_brand, receipt.card_last4) == ("mastercard", "4444")
    assert payment.email == EMAIL
    assert [(x.book_id, x.quantity, x.unit_price) for x in payment.lines] == [(BOOK.id, 2, 2800)]


DECLINES = [
    (DECLINED, "generic_decline"),
    (INSUFFICIENT_FUNDS, "insufficient_funds"),
    ("pm_card_chargeDeclinedLostCard", "lost_card"),
    ("pm_card_chargeDeclinedStolenCard", "stolen_card"),
    ("pm_card_chargeDeclinedFraudulent", "fraudulent"),
    (EXPIRED, "expired_card"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
    ("pm_card_chargeDeclinedProcessingError", "processing_error"),
]


@pytest.mark.parametrize(("method", "code"), DECLINES)
async def test_each_decline_reads_with_its_code_and_the_intent_stays_payable(
    payments: Payments, sandbox: SandboxServer, method: str, code: str
) -> None:
    checkout = checkout_id()
    # A decline is an answer, not an error: the intent as the decline left it.
    declined = await pay(payments, one_book(BOOK, 1), checkout, confirmation_token(sandbox, method))
    assert (declined.outcome, declined.decline_code) == ("declined", code)
    assert declined.payable and declined.changeable
    result = await payments.payment_result(declined.id, declined.client_secret)
    assert (result.outcome, result.decline_code) == ("declined", code)
    # Same intent, another card: paid.
    paid = await pay(
        payments, one_book(BOOK, 1), checkout, confirmation_token(sandbox, VISA), declined
    )
    assert (paid.id, paid.outcome) == (declined.id, "succeeded")
    assert (await payments.payment_result(paid.id, paid.client_secret)).outcome == "succeeded"


async def test_three_d_secure_needs_action_until_authenticated(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await pay(
        payments, one_book(BOOK, 1), checkout_id(), confirmation_token(sandbox, THREE_D_SECURE)
    )
    assert intent.outcome == "needs_action"
    assert (
        await payments.payment_result(intent.id, intent.client_secret)
    ).outcome == "needs_action"
    authenticate(sandbox, intent, "approve")
    paid = await payments.payment_result(intent.id, intent.client_secret)
    assert paid.outcome == "succeeded" and paid.charge is not None


async def test_a_failed_3d_secure_is_declined_and_a_retry_pays_the_same_intent(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    intent = await pay(
        payments, one_book(BOOK, 1), checkout, confirmation_token(sandbox, THREE_D_SECURE)
    )
    authenticate(sandbox, intent, "fail")
    failed = await payments.payment_result(intent.id, intent.client_secret)
    assert failed.outcome == "declined" and failed.payable
    paid = await pay(
        payments, one_book(BOOK, 1), checkout, confirmation_token(sandbox, VISA), failed
    )
    assert (paid.id, paid.outcome) == (intent.id, "succeeded")


async def test_a_tokens_shipping_and_its_use_are_read(
    payments: Payments, sandbox: SandboxServer
) -> None:
    shipped = confirmation_token(sandbox, VISA, shipping=SINGAPORE_SHIPPING)
    token = await payments.confirmation_token(shipped)
    assert (token.id, token.used, token.address) == (shipped, False, HOME)
    assert token.expires_at > time.time()
    plain = await payments.confirmation_token(confirmation_token(sandbox, VISA))
    assert (plain.used, plain.address) == (False, None)

    await pay(payments, one_book(BOOK, 1).delivered(HOME, 300), checkout_id(), shipped)
    spent = await payments.confirmation_token(shipped)
    assert (spent.used, spent.address, spent.expires_at) == (True, HOME, token.expires_at)


async def test_an_unknown_token_id_is_payment_not_found(payments: Payments) -> None:
    with pytest.raises(PaymentNotFound):
        await payments.confirmation_token("ctoken_doesnotexist")


@pytest.mark.parametrize(
    "token_id",
    ["", "pm_card_visa", "ctoken_", "ctoken_a b", "ctoken_../../v1/charges", "ctoken_" + "x" * 65],
)
async def test_a_malformed_token_id_is_payment_not_found_without_asking_stripe(
    payments: Payments, sandbox: SandboxServer, token_id: str
) -> None:
    sandbox.set_faults(fail_rate=1.0)  # any call made would be PaymentsUnavailable
    with pytest.raises(PaymentNotFound):
        await payments.confirmation_token(token_id)


async def test_payment_result_refuses_a_foreign_or_malformed_secret(
    payments: Payments, sandbox: SandboxServer
) -> None:
    mine = await pay(payments, one_book(BOOK, 1), checkout_id(), confirmation_token(sandbox))
    other = await pay(payments, one_book(BOOK, 1), checkout_id(), confirmation_token(sandbox))
    for intent_id, secret in [
        (mine.id, other.client_secret),
        (mine.id, mine.client_secret[:-1] + ("x" if mine.client_secret[-1] != "x" else "y")),
        (mine.id, "nonsense"),
        ("pi_doesnotexist", "pi_doesnotexist_secret_abc"),
        ("../../v1/charges", mine.client_secret),
    ]:
        with pytest.raises(PaymentNotFound):
            await payments.payment_result(intent_id, secret)


async def test_only_a_404_from_stripe_means_not_found(
    payments: Payments, sandbox: SandboxServer
) -> None:
    with pytest.raises(PaymentNotFound):
        await payments.intent("pi_doesnotexist")
    mine = await pay(
        payments, one_book(BOOK, 1), checkout_id(), confirmation_token(sandbox, DECLINED)
    )
    # Any other refusal is a request the shop should not have sent: a bug, not "no such payment".
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await payments._update(mine.id, amount=-1)
    assert refused.value.http_status == 400


async def test_a_key_met_again_with_other_parameters_is_unavailable_not_a_crash(
    payments: Payments,
) -> None:
    create = {"currency": "sgd", "idempotency_key": f"test-{checkout_id()}"}
    await payments._create(amount=2800, **create)
    with pytest.raises(PaymentsUnavailable):
        await payments._create(amount=5600, **create)


@pytest.mark.parametrize("mode", ["error", "drop"])
async def test_sandbox_failures_become_unavailable(
    payments: Payments, sandbox: SandboxServer, mode: str
) -> None:
    token = confirmation_token(sandbox, VISA)
    sandbox.set_faults(fail_rate=1.0, fail_mode=mode)
    with pytest.raises(PaymentsUnavailable):
        await payments.confirmation_token(token)
    with pytest.raises(PaymentsUnavailable):
        await pay(payments, one_book(BOOK, 1), checkout_id(), token)


async def test_a_slow_provider_times_out_as_unavailable(
    settings: Settings, sandbox: SandboxServer
) -> None:
    gateway = Payments(dataclasses.replace(settings, stripe_timeout_seconds=1))
    token = confirmation_token(sandbox, VISA)
    sandbox.set_faults(latency_ms=2500)
    try:
        with pytest.raises(PaymentsUnavailable):
            await pay(gateway, one_book(BOOK, 1), checkout_id(), token)
    finally:
        gateway.close()


async def test_a_refused_key_is_logged_loudly_without_the_key(
    settings: Settings, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sk_test_wrong_" + "x" * 24
    gateway = Payments(dataclasses.replace(settings, stripe_secret_key=wrong))
    token = confirmation_token(sandbox, VISA)
    try:
        with pytest.raises(PaymentsUnavailable):
            await pay(gateway, one_book(BOOK, 1), checkout_id(), token)
    finally:
        gateway.close()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical and "STRIPE_SECRET_KEY" in critical[0].getMessage()
    assert all(wrong not in r.getMessage() for r in caplog.records)


async def test_slow_calls_run_in_parallel_in_the_pool(
    payments: Payments, sandbox: SandboxServer
) -> None:
    tokens = [confirmation_token(sandbox, VISA) for _ in range(20)]
    sandbox.set_faults(latency_ms=500)
    started = time.monotonic()
    intents = await asyncio.gather(
        *(pay(payments, one_book(BOOK, 1), checkout_id(), token) for token in tokens)
    )
    elapsed = time.monotonic() - started
    assert len({intent.id for intent in intents}) == 20
    assert {intent.status for intent in intents} == {"succeeded"}
    # Serially this would take 10 s; in the pool, about one call's latency.
    assert elapsed < 3.0


async def test_proxy_environment_is_read_once_when_payments_start(
    settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nothing_listens = "http://127.0.0.1:9"
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    unsent, sent = confirmation_token(sandbox, VISA), confirmation_token(sandbox, VISA)
    monkeypatch.setenv("HTTP_PROXY", nothing_listens)
    through_dead_proxy = Payments(settings)
    monkeypatch.delenv("HTTP_PROXY")
    direct = Payments(settings)
    # Set after start-up: not seen, so the shop keeps talking to Stripe directly.
    monkeypatch.setenv("HTTP_PROXY", nothing_listens)
    try:
        with pytest.raises(PaymentsUnavailable):
            await pay(through_dead_proxy, one_book(BOOK, 1), checkout_id(), unsent)
        intent = await pay(direct, one_book(BOOK, 1), checkout_id(), sent)
        assert intent.status == "succeeded"
    finally:
        through_dead_proxy.close()
        direct.close()
