"""The gateway against the sandbox: intents, results, Stripe's errors as the shop's, the pool."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Iterator

import pytest
import stripe

from bookshop.address import Address
from bookshop.basket import Basket, line, one_book
from bookshop.config import Settings
from bookshop.payments import PaymentNotFound, Payments, PaymentsUnavailable
from tests.fixtures.app import BOOKS, SINGAPORE, confirm_like_stripe_js, intents_of_checkout
from tests.fixtures.sandbox import SandboxServer

BOOK = BOOKS["working-in-public"]
assert BOOK is not None


@pytest.fixture
def payments(settings: Settings) -> Iterator[Payments]:
    gateway = Payments(settings)
    yield gateway
    gateway.close()


def checkout_id() -> str:
    return secrets.token_urlsafe(12)


async def test_new_checkout_creates_an_intent_priced_from_the_catalog(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    intent = await payments.open_checkout(one_book(BOOK, 3), checkout, None)
    assert intent.amount == 3 * 2800
    assert intent.currency == "sgd"
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(intent.id + "_secret_")
    stored = sandbox.client().v1.payment_intents.retrieve(intent.id)
    assert stored.metadata["lines_1"] == f"{BOOK.id}:3:2800"
    assert stored.metadata["checkout"] == checkout
    assert "Working in Public" in (stored.description or "")


async def test_reopening_reuses_the_intent(payments: Payments, sandbox: SandboxServer) -> None:
    checkout = checkout_id()
    first = await payments.open_checkout(one_book(BOOK, 1), checkout, None)
    for _ in range(3):
        again = await payments.open_checkout(one_book(BOOK, 1), checkout, first.id)
        assert again.id == first.id
    assert len(intents_of_checkout(sandbox, checkout)) == 1


async def test_a_retried_create_replays_instead_of_creating_a_second_intent(
    payments: Payments, sandbox: SandboxServer
) -> None:
    # The first answer was lost (the cookie never reached the browser): same checkout, same key.
    checkout = checkout_id()
    first = await payments.open_checkout(one_book(BOOK, 2), checkout, None)
    second = await payments.open_checkout(one_book(BOOK, 2), checkout, None)
    assert second.id == first.id
    assert len(intents_of_checkout(sandbox, checkout)) == 1


async def test_a_lost_create_retried_for_another_address_opens_an_intent_for_it(
    payments: Payments, sandbox: SandboxServer
) -> None:
    # The first answer was lost, then the shopper changed the address: same books, same
    # checkout, other parameters. Stripe refuses a key met again with other parameters.
    checkout, books = checkout_id(), one_book(BOOK, 1)
    home = books.delivered(Address(**SINGAPORE), 300)
    office = books.delivered(dataclasses.replace(Address(**SINGAPORE), line1="2 Other Road"), 300)
    first = await payments.open_checkout(home, checkout, None)
    second = await payments.open_checkout(office, checkout, None)
    assert second.id != first.id
    assert second.address is not None and second.address.line1 == "2 Other Road"


async def test_changing_the_quantity_updates_the_same_intent(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    first = await payments.open_checkout(one_book(BOOK, 1), checkout, None)
    changed = await payments.open_checkout(one_book(BOOK, 4), checkout, first.id)
    assert changed.id == first.id
    assert changed.amount == 4 * 2800
    assert sandbox.client().v1.payment_intents.retrieve(first.id).amount == 4 * 2800


async def test_a_paid_intent_is_returned_as_it_is_and_a_canceled_one_replaced(
    payments: Payments, sandbox: SandboxServer
) -> None:
    checkout = checkout_id()
    first = await payments.open_checkout(one_book(BOOK, 1), checkout, None)
    assert (
        confirm_like_stripe_js(sandbox, first.client_secret, "4242424242424242").status_code == 200
    )
    # Paid: the checkout shows what was paid; a bigger basket cannot change it.
    again = await payments.open_checkout(one_book(BOOK, 2), checkout, first.id)
    assert (again.id, again.status, again.amount) == (first.id, "succeeded", 2800)

    other = checkout_id()
    dropped = await payments.open_checkout(one_book(BOOK, 1), other, None)
    sandbox.client().v1.payment_intents.cancel(dropped.id)
    replaced = await payments.open_checkout(one_book(BOOK, 1), other, dropped.id)
    assert replaced.id != dropped.id and replaced.status == "requires_payment_method"


async def test_a_cart_of_several_books_is_one_intent_whose_metadata_rebuilds_the_order(
    payments: Payments, sandbox: SandboxServer
) -> None:
    books = [BOOKS[book_id] for book_id in ("code", "hackers", "mythical-man-month")]
    basket = Basket(tuple(line(book, n) for n, book in enumerate(books, start=1) if book))
    checkout = checkout_id()
    intent = await payments.open_checkout(basket, checkout, None)
    assert intent.amount == basket.total == 2900 + 2 * 2200 + 3 * 3200
    assert intent.lines_key == basket.key
    # Removing a line updates the same intent; its metadata names exactly what is left.
    smaller = Basket(basket.lines[:1])
    updated = await payments.open_checkout(smaller, checkout, intent.id)
    assert (updated.id, updated.amount, updated.lines_key) == (intent.id, 2900, smaller.key)
    stored = sandbox.client().v1.payment_intents.retrieve(intent.id).metadata.to_dict()
    assert stored == {"checkout": checkout, "lines_1": "code:1:2900", "shipping": "0"}


async def test_outcome_of_a_paid_intent_is_a_receipt_read_with_the_secret_key(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await payments.open_checkout(one_book(BOOK, 2), checkout_id(), None)
    confirm_like_stripe_js(sandbox, intent.client_secret, "5555555555554444", "reader@example.com")
    payment = await payments.payment_result(intent.id, intent.client_secret)
    assert payment.outcome == "succeeded"
    receipt = payment.charge
    assert receipt is not None
    assert receipt.id.startswith("ch_") and payment.charge_id == receipt.id
    assert (receipt.amount, receipt.currency) == (5600, "sgd")
    assert (receipt.card_brand, receipt.card_last4) == ("mastercard", "4444")
    assert payment.email == "reader@example.com"
    assert [(x.book_id, x.quantity, x.unit_price) for x in payment.lines] == [(BOOK.id, 2, 2800)]


DECLINES = [
    ("4000000000000002", "generic_decline"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000009987", "lost_card"),
    ("4000000000009979", "stolen_card"),
    ("4100000000000019", "fraudulent"),
    ("4000000000000069", "expired_card"),
    ("4000000000000127", "incorrect_cvc"),
    ("4000000000000119", "processing_error"),
]


@pytest.mark.parametrize(("card", "code"), DECLINES)
async def test_each_decline_reads_with_its_code_and_the_intent_stays_payable(
    payments: Payments, sandbox: SandboxServer, card: str, code: str
) -> None:
    intent = await payments.open_checkout(one_book(BOOK, 1), checkout_id(), None)
    assert confirm_like_stripe_js(sandbox, intent.client_secret, card).status_code == 402
    payment = await payments.payment_result(intent.id, intent.client_secret)
    assert payment.outcome == "declined"
    assert payment.decline_code == code
    # Same intent, another card: paid.
    assert (
        confirm_like_stripe_js(sandbox, intent.client_secret, "4242424242424242").status_code == 200
    )
    assert (await payments.payment_result(intent.id, intent.client_secret)).outcome == "succeeded"


async def test_three_d_secure_card_needs_action_until_authenticated(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await payments.open_checkout(one_book(BOOK, 1), checkout_id(), None)
    confirm_like_stripe_js(sandbox, intent.client_secret, "4000002500003155")
    assert (
        await payments.payment_result(intent.id, intent.client_secret)
    ).outcome == "needs_action"


async def test_payment_result_refuses_a_foreign_or_malformed_secret(
    payments: Payments,
) -> None:
    mine = await payments.open_checkout(one_book(BOOK, 1), checkout_id(), None)
    other = await payments.open_checkout(one_book(BOOK, 1), checkout_id(), None)
    for intent_id, secret in [
        (mine.id, other.client_secret),
        (mine.id, mine.client_secret[:-1] + ("x" if mine.client_secret[-1] != "x" else "y")),
        (mine.id, "nonsense"),
        ("pi_doesnotexist", "pi_doesnotexist_secret_abc"),
        ("../../v1/charges", mine.client_secret),
    ]:
        with pytest.raises(PaymentNotFound):
            await payments.payment_result(intent_id, secret)


async def test_only_a_404_from_stripe_means_not_found(payments: Payments) -> None:
    with pytest.raises(PaymentNotFound):
        await payments.intent("pi_doesnotexist")
    mine = await payments.open_checkout(one_book(BOOK, 1), checkout_id(), None)
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
    sandbox.set_faults(fail_rate=1.0, fail_mode=mode)
    with pytest.raises(PaymentsUnavailable):
        await payments.open_checkout(one_book(BOOK, 1), checkout_id(), None)


async def test_a_slow_provider_times_out_as_unavailable(
    settings: Settings, sandbox: SandboxServer
) -> None:
    gateway = Payments(dataclasses.replace(settings, stripe_timeout_seconds=1))
    sandbox.set_faults(latency_ms=2500)
    try:
        with pytest.raises(PaymentsUnavailable):
            await gateway.open_checkout(one_book(BOOK, 1), checkout_id(), None)
    finally:
        gateway.close()


async def test_a_refused_key_is_logged_loudly_without_the_key(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sk_test_wrong_" + "x" * 24
    gateway = Payments(dataclasses.replace(settings, stripe_secret_key=wrong))
    try:
        with pytest.raises(PaymentsUnavailable):
            await gateway.open_checkout(one_book(BOOK, 1), checkout_id(), None)
    finally:
        gateway.close()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical and "STRIPE_SECRET_KEY" in critical[0].getMessage()
    assert all(wrong not in r.getMessage() for r in caplog.records)


async def test_slow_calls_run_in_parallel_in_the_pool(
    payments: Payments, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(latency_ms=500)
    started = time.monotonic()
    intents = await asyncio.gather(
        *(payments.open_checkout(one_book(BOOK, 1), checkout_id(), None) for _ in range(20))
    )
    elapsed = time.monotonic() - started
    assert len({intent.id for intent in intents}) == 20
    # Serially this would take 10 s; in the pool, about one call's latency.
    assert elapsed < 3.0


async def test_proxy_environment_is_read_once_when_payments_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    nothing_listens = "http://127.0.0.1:9"
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", nothing_listens)
    through_dead_proxy = Payments(settings)
    monkeypatch.delenv("HTTP_PROXY")
    direct = Payments(settings)
    # Set after start-up: not seen, so the shop keeps talking to Stripe directly.
    monkeypatch.setenv("HTTP_PROXY", nothing_listens)
    try:
        with pytest.raises(PaymentsUnavailable):
            await through_dead_proxy.open_checkout(one_book(BOOK, 1), checkout_id(), None)
        intent = await direct.open_checkout(one_book(BOOK, 1), checkout_id(), None)
        assert intent.status == "requires_payment_method"
    finally:
        through_dead_proxy.close()
        direct.close()
