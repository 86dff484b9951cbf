"""Paid is what the shop checked: where an order goes is the address the shop checked, and a paid
order that Stripe's intent disagrees with is flagged for review, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bookshop import create_app
from bookshop.config import Settings
from bookshop.orders import ADDRESS_CHANGED, CHARGE_CHANGED, Ledger
from tests.checkout.steps import approve_3d_secure, pushed_intent, result_query, start_3d_secure
from tests.fixtures.app import Client, deliver_to_singapore
from tests.fixtures.paying import EMAIL, VISA, press_pay
from tests.fixtures.sandbox import SandboxServer
from tests.orders.intents import BOOK, ELSEWHERE, HOME, PRICE, copies, event, intent, paid, state


async def test_a_re_read_that_charges_otherwise_flags_a_paid_order_and_changes_nothing_else(
    ledger: Ledger,
) -> None:
    await ledger.record_payment(intent(quantity=5, address=HOME))
    await ledger.mark_paid(paid(quantity=5, address=HOME))
    # Stripe's intent now says 2 copies (its metadata edited since, say): a person looks.
    change = await ledger.apply_state(paid(quantity=2, address=HOME))
    assert change is not None and change.before is not None
    assert (copies(change.before), copies(change.after)) == (5, 5)
    assert (change.before.status, change.after.status) == ("paid", "paid")
    assert change.after.amount == 5 * PRICE
    assert (change.before.review, change.after.review) == (None, CHARGE_CHANGED)
    assert change.stripe is not None and change.stripe.amount == 2 * PRICE
    assert await ledger.apply_state(paid(quantity=2, address=HOME)) is None


@pytest.mark.parametrize("path", ["result page", "webhook", "reconcile", "late webhook"])
async def test_a_payment_that_ships_elsewhere_keeps_the_shops_address_and_is_flagged(
    ledger: Ledger, path: str
) -> None:
    await ledger.record_payment(intent(address=HOME))
    elsewhere = paid(address=ELSEWHERE)  # confirmed with another address than the shop checked
    late = event("evt_late", "payment_intent.succeeded", elsewhere, 1)
    sent = int(time.time()) + 1  # after the pay step's answer
    if path == "late webhook":
        # Read since the event was sent (3D Secure under way): only a re-read applies it.
        await ledger.apply_state(intent(status="requires_action", address=HOME))
        assert (await ledger.apply_event(late)).stale
    for _ in range(2):  # every path may run twice
        if path == "result page":
            await ledger.mark_paid(elsewhere)
        elif path == "webhook":
            await ledger.apply_event(event("evt_p", "payment_intent.succeeded", elsewhere, sent))
        elif path == "reconcile":
            await ledger.apply_state(elsewhere)
        elif (await ledger.apply_event(late)).stale:
            await ledger.apply_late(late, elsewhere)

    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.address, order.review) == ("paid", HOME, ADDRESS_CHANGED)
    assert order.charge_id == elsewhere.charge_id


async def test_while_payable_a_read_takes_what_the_intent_charges_but_never_the_address(
    ledger: Ledger,
) -> None:
    await ledger.record_payment(intent(quantity=1, address=HOME))
    # A read of the intent as Stripe has it (reconcile, a re-read) while the shopper can pay.
    await ledger.apply_state(intent(quantity=3, address=ELSEWHERE, email="ada@example.com"))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (copies(order), order.amount, order.address) == (3, 3 * PRICE, HOME)
    assert order.review is None  # nothing is paid yet: nothing to look at

    # The shop's own pay step moves it: that is where the books go.
    await ledger.record_payment(intent(quantity=3, address=ELSEWHERE))
    await ledger.mark_paid(paid(quantity=3, address=ELSEWHERE))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.address, order.review) == ("paid", ELSEWHERE, None)


async def test_a_re_read_of_a_paid_order_that_ships_elsewhere_flags_it_once(
    ledger: Ledger,
) -> None:
    await ledger.record_payment(intent(address=HOME))
    await ledger.mark_paid(paid(address=HOME))
    assert (await ledger.apply_state(paid(address=HOME))) is None

    change = await ledger.apply_state(paid(address=ELSEWHERE))
    again = await ledger.apply_state(paid(address=ELSEWHERE))

    assert change is not None and change.before is not None
    assert (change.before.review, change.after.review) == (None, ADDRESS_CHANGED)
    assert change.after.address == HOME
    assert again is None
    # A second reason adds to the first.
    await ledger.apply_state(paid(quantity=2, address=ELSEWHERE))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert order.review == f"{ADDRESS_CHANGED}; {CHARGE_CHANGED}"
    assert (copies(order), order.address) == (1, HOME)


async def test_a_payment_the_ledger_never_heard_of_takes_stripes_address(ledger: Ledger) -> None:
    # Stripe's webhook before the pay step's write: nothing to compare with yet.
    succeeded = state(address=HOME)
    await ledger.apply_event(event("evt_first", "payment_intent.succeeded", succeeded, 1))
    await ledger.record_payment(succeeded)
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.address, order.review) == ("paid", HOME, None)


async def test_the_pay_steps_answer_is_the_shops_address_on_every_attempt(
    ledger: Ledger,
) -> None:
    declined = intent(address=HOME, decline_code="card_declined", email="ada@example.com")
    await ledger.record_payment(declined)
    order = await ledger.get("pi_ledger1")
    assert order is not None and (order.status, order.address) == ("failed", HOME)

    # Another card and a new address the shop checked: the same intent, updated and confirmed.
    await ledger.record_payment(paid(quantity=2, address=ELSEWHERE))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, copies(order), order.address) == ("paid", 2, ELSEWHERE)
    # The decline's attempt is counted by its payment_failed event, never heard here.
    assert (order.review, order.email, order.attempts) == (None, "ada@example.com", 0)


async def test_a_webhook_before_the_pay_steps_write_leaves_no_flag_once_the_write_lands(
    ledger: Ledger,
) -> None:
    await ledger.record_payment(intent(address=HOME, decline_code="card_declined"))
    # The retry, with a new address, paid: Stripe's webhook is heard before the pay step's write.
    succeeded = paid(quantity=2, address=ELSEWHERE)
    sent = int(time.time()) + 1
    await ledger.apply_event(event("evt_paid", "payment_intent.succeeded", succeeded, sent))
    early = await ledger.get("pi_ledger1")
    await ledger.record_payment(succeeded)
    landed = await ledger.get("pi_ledger1")
    again = await ledger.record_payment(succeeded)

    assert early is not None and landed is not None
    assert (early.status, early.address, early.review) == ("paid", HOME, ADDRESS_CHANGED)
    assert (landed.status, copies(landed), landed.address) == ("paid", 2, ELSEWHERE)
    assert landed.review is None
    assert again is None


async def test_a_declined_pay_step_never_clears_a_flag(ledger: Ledger) -> None:
    await ledger.record_payment(intent(address=HOME))
    await ledger.mark_paid(paid(address=ELSEWHERE))
    # A stale answer of the shop's own (an earlier, declined attempt) after the payment.
    await ledger.record_payment(intent(address=ELSEWHERE, decline_code="card_declined"))
    order = await ledger.get("pi_ledger1")
    assert order is not None
    assert (order.status, order.address, order.review) == ("paid", HOME, ADDRESS_CHANGED)


async def test_the_pay_step_and_the_result_page_write_the_ledger(
    settings: Settings, database_url: str, sandbox: SandboxServer
) -> None:
    app = create_app(replace(settings, database_url=database_url))
    async with app.test_app() as test_app:
        client: Client = await deliver_to_singapore(test_app.test_client())
        ledger: Ledger = app.extensions["ledger"]
        # Paid at once: the pay step's own answer is in the ledger, with the address it checked.
        answer = await press_pay(client, sandbox, "/checkout/code?quantity=2", VISA)
        assert answer.status_code == 200, await answer.get_data(as_text=True)
        order = await ledger.get(pushed_intent(answer))
        assert order is not None
        assert (order.status, copies(order), order.email) == ("paid", 2, EMAIL)
        assert (order.address, order.review) == (HOME, None)

        # 3D Secure: open until the result page reads the approved payment. (The address left
        # the session with the paid order: the shopper gives it again.)
        await deliver_to_singapore(client)
        intent_id, secret = await start_3d_secure(client, sandbox, f"/checkout/{BOOK}")
        order = await ledger.get(intent_id)
        assert order is not None and (order.status, order.address) == ("open", HOME)
        approve_3d_secure(sandbox, intent_id, secret)
        result = await client.get(f"/payment/status?{result_query(intent_id, secret)}")

        assert result.status_code == 200
        order = await ledger.get(intent_id)
        assert order is not None
        assert (order.status, order.address, order.review) == ("paid", HOME, None)
        assert order.charge_id and order.charge_id.startswith("ch_")
