"""Journeys 2-6: the checkout summary and paying, from the card to the receipt."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.shopper import CHALLENGE_FRAME, VISA, Shopper
from tests.fixtures.app import GENERIC_DECLINE, decline_message, delivered
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.stripe_data import card_table

pytestmark = pytest.mark.browser

BOOK = "mythical-man-month"  # 32.00 SGD
# A decline is a 402 from Stripe's API: Chromium logs every 4xx fetch, so those lines are expected.
DECLINE_FETCH = r"status of 402 .*/v1/payment_intents/pi_\w+/confirm"


def decline_rows() -> list[dict[str, str]]:
    """Every card in Stripe's test-card table that is declined (or refused before sending)."""
    return [
        row
        for row in card_table()
        if row["number"].isdigit()
        and (row["type"] == "validation_error" or row["result"] == "requires_payment_method")
    ]


def money(amount: int) -> str:
    """An amount as the shop shows it (SGD in the en_SG locale)."""
    return f"{amount / 100:,.2f} SGD"


def test_changing_the_quantity_updates_the_total_in_place_and_the_amount_to_charge(
    shopper: Shopper,
) -> None:
    shopper.open_checkout(BOOK)
    intent_id = shopper.intent_id()
    assert shopper.intent().amount == delivered(3200, 1)
    shopper.page.evaluate("window.e2eMark = 'same document'")
    total = shopper.page.locator("#checkout-summary .total")
    expect(total).to_have_attribute("data-amount", str(delivered(3200, 1)))

    shopper.page.locator("#quantity").select_option("3")

    expect(total).to_have_attribute("data-amount", "9600")
    expect(total).to_have_text(money(9600))
    expect(shopper.page).to_have_url(re.compile(rf"/checkout/{BOOK}\?quantity=3$"))
    assert shopper.page.evaluate("window.e2eMark") == "same document"
    # The Payment Element charges what the sandbox's intent says: the same intent, new amount.
    assert shopper.intent_id() == intent_id
    intent = shopper.intent()
    assert (intent.amount, intent.currency) == (9600, "sgd")
    assert intent.metadata["lines_1"] == f"{BOOK}:3:3200"

    shopper.page.locator("#quantity").select_option("2")
    expect(total).to_have_attribute("data-amount", "6400")
    assert shopper.intent().amount == 6400
    shopper.assert_console_clean()


def test_paying_with_4242_shows_a_spinner_once_then_a_receipt_that_survives_a_reload(
    shopper: Shopper, shop_sandbox: SandboxServer
) -> None:
    shopper.open_checkout(BOOK, quantity=2)
    shopper.fill_card(VISA)
    # Slow every Stripe call so the busy state lasts long enough to see and to click into.
    shop_sandbox.set_faults(latency_ms=1000)

    shopper.start_paying()

    spinner = shopper.result.locator(".payment-spinner")
    expect(spinner).to_be_visible()
    expect(spinner).to_contain_text("Processing your payment")
    expect(shopper.pay_button).to_be_disabled()
    # A second press (or a second submit by keyboard) while paying must not confirm again.
    shopper.pay_button.click(force=True, no_wait_after=True)
    shopper.page.locator("#payment-form").evaluate("form => form.requestSubmit()")
    receipt = shopper.outcome()
    shop_sandbox.set_faults()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.status == "succeeded"
    assert len(shopper.confirms) == 1
    charge = intent.latest_charge
    expect(receipt.locator(".charge-id")).to_have_text(charge.id)
    expect(receipt.locator(".receipt-amount")).to_have_text(money(6400))
    assert charge.amount == 6400
    expect(receipt).to_contain_text("Visa ending 4242")
    expect(shopper.page).to_have_url(re.compile(r"/success\?payment_intent=pi_"))

    shopper.page.reload()

    expect(shopper.page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    expect(shopper.page.locator(".receipt .charge-id")).to_have_text(charge.id)
    expect(shopper.page.locator(".receipt .receipt-amount")).to_have_text(money(6400))
    shopper.assert_console_clean()


def test_each_decline_card_shows_and_announces_its_message_then_4242_pays_the_same_intent(
    shopper: Shopper,
) -> None:
    rows = decline_rows()
    assert len(rows) >= 9, "the test-card table lost its decline rows"
    shopper.open_checkout(BOOK)
    intent_id = shopper.intent_id()
    result = shopper.result
    # A polite live region from the start, so screen readers announce whatever lands in it.
    expect(result).to_have_attribute("role", "status")
    expect(result).to_have_attribute("aria-live", "polite")

    for row in rows:
        if row["type"] == "validation_error":
            # Refused inside the Element before anything is sent: its own message, not ours.
            shopper.fill_card(row["number"])
            shopper.start_paying()
            message = shopper.card_frame.get_by_text(row["stripejs_message"])
            expect(message, row["scenario"]).to_be_visible()
            expect(shopper.pay_button).to_be_enabled()
            expect(result, row["scenario"]).to_be_empty()
            continue
        decline_code = None if row["decline_code"] == "-" else row["decline_code"]
        expected = decline_message(decline_code or row["code"])

        outcome = shopper.pay(row["number"])

        expect(outcome, row["scenario"]).to_have_attribute("data-outcome", "declined")
        expect(outcome, row["scenario"]).to_have_text(expected)
        expect(result.get_by_role("alert")).to_have_text(expected)
        expect(result).to_have_attribute("aria-busy", "false")
        if decline_code in ("lost_card", "stolen_card", "fraudulent"):
            # The shopper is never told that the card was reported or suspected.
            assert expected == GENERIC_DECLINE
        assert shopper.intent_id() == intent_id

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert (intent.id, intent.status) == (intent_id, "succeeded")
    expect(receipt.locator(".charge-id")).to_have_text(intent.latest_charge.id)
    shopper.assert_console_clean(allow=(DECLINE_FETCH,))


def test_3d_secure_approved_shows_the_receipt(shopper: Shopper) -> None:
    shopper.open_checkout(BOOK)
    shopper.fill_card("4000 0025 0000 3155")
    shopper.start_paying()

    shopper.authenticate("Complete authentication")
    receipt = shopper.outcome()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.status == "succeeded"
    expect(receipt.locator(".charge-id")).to_have_text(intent.latest_charge.id)
    shopper.assert_console_clean()


def test_3d_secure_failed_says_so_then_a_retry_succeeds(shopper: Shopper) -> None:
    shopper.open_checkout(BOOK)
    intent_id = shopper.intent_id()
    shopper.fill_card("4000 0027 6000 3184")
    shopper.start_paying()

    shopper.authenticate("Fail authentication")
    outcome = shopper.outcome()

    expect(outcome).to_have_attribute("data-outcome", "declined")
    expect(outcome).to_have_attribute("data-code", "payment_intent_authentication_failure")
    expect(outcome).to_have_text(decline_message("payment_intent_authentication_failure"))
    assert shopper.intent().status == "requires_payment_method"

    shopper.fill_card("4000 0025 0000 3155")
    shopper.start_paying()
    shopper.authenticate("Complete authentication")
    receipt = shopper.outcome()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert (intent.id, intent.status) == (intent_id, "succeeded")
    # A failed authentication is a 402 from the sandbox's confirm, like a decline.
    shopper.assert_console_clean(allow=(DECLINE_FETCH,))


def test_provider_down_says_unavailable_charges_nothing_and_a_retry_after_recovery_pays(
    shopper: Shopper, shop_sandbox: SandboxServer
) -> None:
    shopper.open_checkout(BOOK)
    intent_id = shopper.intent_id()
    shopper.fill_card(VISA)
    shop_sandbox.set_faults(fail_rate=1.0)

    shopper.start_paying()
    outcome = shopper.outcome()

    expect(outcome).to_have_attribute("data-outcome", "unavailable")
    expect(outcome).to_contain_text("We couldn't reach our payment provider")
    expect(outcome).to_contain_text("You have not been charged")
    # No link back to the POST that failed (it would answer 405): the shopper presses Pay again.
    expect(outcome.get_by_role("link")).to_have_count(0)
    expect(outcome).to_contain_text("Press Pay to try again")
    shop_sandbox.set_faults()
    intent = shopper.intent()
    assert intent.status == "requires_payment_method"
    assert intent.latest_charge is None
    assert shopper.confirms == []

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert (intent.id, intent.status) == (intent_id, "succeeded")
    # The shop answered the first attempt with a 503 (swapped in by htmx); nothing else may fail.
    shopper.assert_console_clean(allow=(r"status of 503 .*/checkout/[\w-]+/pay",))


def test_3d_secure_left_unfinished_then_a_reload_pays_for_the_copies_shown(
    shopper: Shopper,
) -> None:
    shopper.open_checkout(BOOK, quantity=3)
    shopper.fill_card("4000 0025 0000 3155")
    shopper.start_paying()
    challenge = shopper.page.frame_locator(CHALLENGE_FRAME)
    expect(challenge.get_by_role("button", name="Complete authentication")).to_be_visible()

    # The shopper gives up on the challenge and reloads: the summary is read-only now.
    shopper.page.reload()
    shopper.wait_for_payment_element()
    expect(shopper.page.locator("#checkout-summary select")).to_have_count(0)
    assert shopper.intent().status == "requires_action"

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert (intent.status, intent.amount) == ("succeeded", delivered(3 * 3200, 3))
    assert intent.metadata["lines_1"] == f"{BOOK}:3:3200"
    shopper.assert_console_clean()
