"""The gateway's refunds against the sandbox: in full or in part, once a key, Stripe's refusals as
the shop's RefundRefused; and the link to a payment in Stripe's dashboard."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator

import pytest

from bookshop.basket import one_book
from bookshop.config import Settings
from bookshop.payments import Intent, PaymentNotFound, Payments, RefundRefused
from bookshop.payments.gateway import _refund_key
from tests.fixtures.app import BOOKS
from tests.fixtures.paying import DECLINED, EMAIL, VISA, confirmation_token
from tests.fixtures.sandbox import SandboxServer

BOOK = BOOKS["working-in-public"]
assert BOOK is not None
RETURN_URL = "http://127.0.0.1/checkout/success"


@pytest.fixture
def payments(settings: Settings) -> Iterator[Payments]:
    gateway = Payments(settings)
    yield gateway
    gateway.close()


async def paid(payments: Payments, sandbox: SandboxServer, card: str = VISA) -> Intent:
    """Two copies of a book, paid (or declined, with a declining card)."""
    assert BOOK is not None
    token = confirmation_token(sandbox, card)
    basket = one_book(BOOK, 2)
    return await payments.pay(basket, secrets.token_urlsafe(12), token, EMAIL, RETURN_URL, None)


def refunds_at_stripe(sandbox: SandboxServer, intent_id: str) -> list[int]:
    """The amounts Stripe refunded of the payment, newest first."""
    listed = sandbox.client().v1.refunds.list({"payment_intent": intent_id})
    return [refund.amount for refund in listed.data]


async def test_part_then_another_part_then_the_rest_is_refunded(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await paid(payments, sandbox)
    total = intent.amount
    first = await payments.refund(intent.id, "damaged book", amount=500, key=f"a-{intent.id}")
    assert first.charge is not None
    assert (first.charge.amount_refunded, first.charge.refunded) == (500, False)
    assert [(r.amount, r.reason) for r in first.charge.refunds] == [(500, "damaged book")]

    second = await payments.refund(intent.id, "late", amount=700, key=f"b-{intent.id}")
    assert second.charge is not None
    assert (second.charge.amount_refunded, second.charge.refunded) == (1200, False)

    rest = await payments.refund(intent.id, "order cancelled", key=f"c-{intent.id}")
    assert rest.charge is not None
    assert (rest.charge.amount, rest.charge.amount_refunded, rest.charge.refunded) == (
        total,
        total,
        True,
    )
    # Newest first, each with the shop's reason, as the staff page lists them.
    refunds = rest.charge.refunds
    assert [(r.amount, r.reason, r.status) for r in refunds] == [
        (total - 1200, "order cancelled", "succeeded"),
        (700, "late", "succeeded"),
        (500, "damaged book", "succeeded"),
    ]
    assert all(r.id.startswith("re_") and r.created > 0 for r in refunds)
    assert (rest.charge.card_brand, rest.charge.card_last4) == ("visa", "4242")
    assert refunds_at_stripe(sandbox, intent.id) == [total - 1200, 700, 500]
    # Stripe sends charge.refunded for each refund, the partial ones too.
    sent = [
        e["data"]["object"]["amount_refunded"]
        for e in sandbox.events("charge.refunded")
        if e["data"]["object"]["id"] == rest.charge.id
    ]
    assert sent == [total, 1200, 500]


async def test_the_same_key_twice_refunds_once(payments: Payments, sandbox: SandboxServer) -> None:
    intent = await paid(payments, sandbox)
    key = f"staff-{intent.id}-1"
    once = await payments.refund(intent.id, "damaged book", amount=500, key=key)
    again = await payments.refund(intent.id, "damaged book", amount=500, key=key)
    assert once.charge is not None and again.charge is not None
    assert again.charge.amount_refunded == 500
    assert [r.id for r in again.charge.refunds] == [r.id for r in once.charge.refunds]
    assert refunds_at_stripe(sandbox, intent.id) == [500]
    created = [
        e
        for e in sandbox.events("refund.created")
        if e["data"]["object"]["payment_intent"] == intent.id
    ]
    assert len(created) == 1


async def test_a_key_used_for_another_refund_is_refused_and_refunds_nothing_more(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await paid(payments, sandbox)
    key = f"staff-{intent.id}-1"
    await payments.refund(intent.id, "damaged book", amount=500, key=key)
    with pytest.raises(RefundRefused) as refused:
        await payments.refund(intent.id, "damaged book", amount=600, key=key)
    assert refused.value.code == "key_reused"
    assert key not in str(refused.value)
    assert refunds_at_stripe(sandbox, intent.id) == [500]


async def test_without_a_key_a_part_is_refunded_once_per_reason_and_amount(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await paid(payments, sandbox)
    await payments.refund(intent.id, "damaged book", amount=500)
    await payments.refund(intent.id, "damaged book", amount=500)  # a retry: replayed
    await payments.refund(intent.id, "damaged book", amount=300)  # another amount: another
    assert refunds_at_stripe(sandbox, intent.id) == [300, 500]


def test_the_default_keys_name_the_intent_the_reason_and_a_parts_amount() -> None:
    # The stock keeper's full refund keeps the key it has always sent.
    assert _refund_key("pi_1", "out of stock", None) == "bookshop-refund-pi_1-out-of-stock"
    assert _refund_key("pi_1", "damaged book", 500) == "bookshop-refund-pi_1-damaged-book-500"
    # A reason that would not fit in the header is named by its digest, still one per reason.
    for reason in ("x" * 300, "livre abîmé", "two\nlines"):
        key = _refund_key("pi_1", reason, 500)
        assert len(key) <= 255 and key.isascii() and key.isprintable() and key.endswith("-500")
        assert key == _refund_key("pi_1", reason, 500) != _refund_key("pi_1", reason + "!", 500)


async def test_more_than_is_left_is_refused_in_the_shops_words(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await paid(payments, sandbox)
    await payments.refund(
        intent.id, "damaged book", amount=intent.amount - 1000, key=f"k1-{intent.id}"
    )
    with pytest.raises(RefundRefused) as refused:
        await payments.refund(intent.id, "damaged book", amount=1500, key=f"k2-{intent.id}")
    assert refused.value.code == "amount_too_large"
    assert str(refused.value) == (
        "Only 10.00\xa0SGD of this payment is left to refund: 15.00\xa0SGD is more than that."
    )
    assert "req_" not in str(refused.value) and "sk_" not in str(refused.value)
    assert refunds_at_stripe(sandbox, intent.id) == [intent.amount - 1000]


async def test_a_payment_refunded_in_full_already_is_refused(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await paid(payments, sandbox)
    await payments.refund(intent.id, "out of stock")
    for amount, key in ((None, f"again-{intent.id}"), (100, None)):
        with pytest.raises(RefundRefused) as refused:
            await payments.refund(intent.id, "damaged book", amount=amount, key=key)
        assert refused.value.code == "already_refunded"
        assert str(refused.value) == "This payment has been refunded in full already."


async def test_a_payment_never_made_is_refused_and_an_unknown_one_is_not_found(
    payments: Payments, sandbox: SandboxServer
) -> None:
    declined = await paid(payments, sandbox, DECLINED)
    assert declined.outcome == "declined"
    with pytest.raises(RefundRefused) as refused:
        await payments.refund(declined.id, "damaged book", amount=100)
    assert refused.value.code == "not_paid"
    with pytest.raises(PaymentNotFound):
        await payments.refund("pi_doesnotexist", "damaged book")
    with pytest.raises(PaymentNotFound):
        await payments.refund("../v1/charges", "damaged book")


async def test_amounts_and_reasons_stripe_would_refuse_are_refused_before_asking_it(
    payments: Payments, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    intent = await paid(payments, sandbox)
    for amount in (0, -5):
        with pytest.raises(RefundRefused) as refused:
            await payments.refund(intent.id, "damaged book", amount=amount)
        assert refused.value.code == "invalid_amount"
    with pytest.raises(RefundRefused) as too_long:
        await payments.refund(intent.id, "x" * 501, amount=100)
    assert too_long.value.code == "invalid_reason"
    with pytest.raises(ValueError):
        await payments.refund(intent.id, "damaged book", amount=100, key="k" * 256)
    assert refunds_at_stripe(sandbox, intent.id) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_intent_read_carries_its_charges_refunds(
    payments: Payments, sandbox: SandboxServer
) -> None:
    intent = await paid(payments, sandbox)
    assert intent.charge is not None and intent.charge.refunds == ()
    refunded = sandbox.client().v1.refunds.create({"payment_intent": intent.id, "amount": 250})
    read = await payments.intent(intent.id)
    assert read.charge is not None and read.charge.amount_refunded == 250
    assert [(r.id, r.amount, r.reason) for r in read.charge.refunds] == [(refunded.id, 250, None)]


def test_the_dashboard_link_follows_the_keys_and_is_none_in_the_sandbox(
    settings: Settings,
) -> None:
    def url(**changes: object) -> str | None:
        gateway = Payments(dataclasses.replace(settings, **changes))  # type: ignore[arg-type]
        try:
            return gateway.dashboard_url("pi_3Abc")
        finally:
            gateway.close()

    test = {"stripe_api_base": None, "stripe_secret_key": "sk_test_" + "a" * 24}
    live = {"stripe_api_base": None, "stripe_secret_key": "sk_live_" + "a" * 24}
    restricted = {**live, "stripe_secret_key": "rk_live_" + "a" * 24}
    assert url() is None
    assert url(**test) == "https://dashboard.stripe.com/test/payments/pi_3Abc"
    assert url(**live) == "https://dashboard.stripe.com/payments/pi_3Abc"
    assert url(**restricted) == "https://dashboard.stripe.com/payments/pi_3Abc"
    gateway = Payments(dataclasses.replace(settings, **test))  # type: ignore[arg-type]
    try:
        with pytest.raises(PaymentNotFound):
            gateway.dashboard_url("../settings")
    finally:
        gateway.close()
