"""Journeys 2-6: the checkout summary and paying, from the card to the receipt.

The page mounts the Payment Element with the amount alone (no PaymentIntent, no client secret);
on Pay it makes a ConfirmationToken and the shop creates and confirms the intent itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from tests.e2e.shopper import (
    CHALLENGE_FRAME,
    DECLINE_FETCH,
    PAY_STEP,
    VISA,
    Shopper,
    pay_step_answered,
)
from tests.fixtures.app import GENERIC_DECLINE, decline_message, delivered
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.stripe_data import card_table

pytestmark = pytest.mark.browser

BOOK = "mythical-man-month"  # 32.00 SGD
THREE_D_SECURE = "4000 0025 0000 3155"  # asks for 3D Secure, then charges


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


def test_a_quantity_change_updates_the_total_and_the_card_element_in_place_and_pay_charges_it(
    shopper: Shopper,
) -> None:
    before = shopper.intent_ids()
    shopper.open_checkout(BOOK)
    shopper.page.evaluate("window.e2eMark = 'same document'")
    total, element = shopper.total, shopper.element
    expect(total).to_have_attribute("data-amount", str(delivered(3200, 1)))
    # The Payment Element was mounted with the page's amount and currency (deferred mode).
    expect(element).to_have_attribute("data-mode", "payment")
    expect(element).to_have_attribute("data-amount", str(delivered(3200, 1)))
    expect(element).to_have_attribute("data-currency", "sgd")

    shopper.page.locator("#quantity").select_option("3")

    expect(total).to_have_attribute("data-amount", "9600")
    expect(total).to_have_text(money(9600))
    expect(element).to_have_attribute("data-amount", "9600")  # elements.update({amount})
    expect(shopper.page).to_have_url(re.compile(rf"/checkout/{BOOK}\?quantity=3$"))
    assert shopper.page.evaluate("window.e2eMark") == "same document"

    shopper.page.locator("#quantity").select_option("2")
    expect(total).to_have_attribute("data-amount", "6400")
    expect(element).to_have_attribute("data-amount", "6400")
    # Neither the page view nor the quantity changes asked Stripe for an intent.
    assert shopper.intent_ids() == before

    receipt = shopper.pay()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    expect(receipt.locator(".receipt-amount")).to_have_text(money(6400))
    intent = shopper.intent()
    assert (intent.amount, intent.currency) == (6400, "sgd")
    assert intent.latest_charge.amount == 6400
    assert intent.metadata["lines_1"] == f"{BOOK}:2:3200"
    assert shopper.intent_ids() - before == {intent.id}
    shopper.assert_console_clean()


def test_page_views_and_reloads_of_a_checkout_create_no_payment_intent_and_no_token(
    shopper: Shopper,
) -> None:
    before = shopper.intent_ids()
    shopper.open_checkout(BOOK, quantity=2)
    for _ in range(3):
        shopper.page.reload()
        shopper.wait_for_payment_element()
    shopper.open("/cart")
    shopper.open_checkout(BOOK)

    assert shopper.intent_ids() == before
    assert shopper.tokens == []
    # No page carries a client secret: there is no intent to carry one of.
    assert "_secret_" not in shopper.page.content()
    shopper.assert_console_clean()


def test_4242_clicked_twice_shows_a_spinner_makes_one_token_one_charge_and_a_lasting_receipt(
    shopper: Shopper, shop_sandbox: SandboxServer
) -> None:
    before = shopper.intent_ids()
    shopper.open_checkout(BOOK, quantity=2)
    shopper.fill_card(VISA)
    # Slow every Stripe call so the busy state lasts long enough to see and to click into.
    shop_sandbox.set_faults(latency_ms=1000)

    shopper.start_paying()

    spinner = shopper.result.locator(".payment-spinner")
    expect(spinner).to_be_visible()
    expect(spinner).to_contain_text("Processing your payment")
    # Busy, yet still focused: a disabled button would drop the keyboard's focus to the page.
    expect(shopper.pay_button).to_have_attribute("aria-disabled", "true")
    expect(shopper.pay_button).to_be_focused()
    expect(shopper.page.locator("#live-status")).to_contain_text("Processing your payment")
    # A second press (or a second submit by keyboard) while paying must not pay again.
    shopper.pay_button.click(force=True, no_wait_after=True)
    shopper.page.locator("#payment-form").evaluate("form => form.requestSubmit()")
    receipt = shopper.outcome()
    shop_sandbox.set_faults()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.status == "succeeded"
    # One Pay reached Stripe.js: one ConfirmationToken, one intent, one charge.
    assert len(shopper.tokens) == 1
    assert shopper.intent_ids() - before == {intent.id}
    charge = intent.latest_charge
    assert [c.id for c in shopper.charges(intent.id)] == [charge.id]
    expect(receipt.locator(".charge-id")).to_have_text(charge.id)
    expect(receipt.locator(".receipt-amount")).to_have_text(money(6400))
    assert charge.amount == 6400
    expect(receipt).to_contain_text("Visa ending 4242")
    expect(shopper.page).to_have_url(re.compile(rf"/success\?payment_intent={intent.id}&"))

    shopper.page.reload()

    expect(shopper.page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    expect(shopper.page.locator(".receipt .charge-id")).to_have_text(charge.id)
    expect(shopper.page.locator(".receipt .receipt-amount")).to_have_text(money(6400))
    assert len(shopper.charges(intent.id)) == 1
    shopper.assert_console_clean()


def test_each_decline_card_shows_and_announces_its_message_then_4242_pays_the_same_intent(
    shopper: Shopper,
) -> None:
    rows = decline_rows()
    assert len(rows) >= 9, "the test-card table lost its decline rows"
    before = shopper.intent_ids()
    shopper.open_checkout(BOOK)
    result = shopper.result
    # The page's assertive live region is there from the start, so a decline written into it
    # is announced.
    alert = shopper.page.locator("#live-alert")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_have_attribute("aria-live", "assertive")
    intent_id = None
    sent = 0

    for row in rows:
        if row["type"] == "validation_error":
            # Refused inside the Element before anything is sent: its own message, not ours.
            shopper.fill_card(row["number"])
            shopper.start_paying()
            message = shopper.card_frame.get_by_text(row["stripejs_message"])
            expect(message, row["scenario"]).to_be_visible()
            expect(shopper.pay_button).to_have_attribute("aria-disabled", "false")
            expect(result, row["scenario"]).to_be_empty()
            assert len(shopper.tokens) == sent, f"{row['scenario']}: no token for a refused card"
            continue
        decline_code = None if row["decline_code"] == "-" else row["decline_code"]
        expected = decline_message(decline_code or row["code"])

        outcome = shopper.pay(row["number"])
        sent += 1

        expect(outcome, row["scenario"]).to_have_attribute("data-outcome", "declined")
        expect(outcome, row["scenario"]).to_have_text(expected)
        expect(alert).to_have_text(expected)
        expect(shopper.pay_button).to_be_focused()
        if decline_code in ("lost_card", "stolen_card", "fraudulent"):
            # The shopper is never told that the card was reported or suspected.
            assert expected == GENERIC_DECLINE
        # The first decline made the checkout's intent; every later Pay confirms it again.
        intent_id = intent_id or shopper.intent_id()
        assert shopper.intent_id() == intent_id, row["scenario"]
        assert len(shopper.tokens) == sent, row["scenario"]

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert (intent.id, intent.status) == (intent_id, "succeeded")
    assert shopper.intent_ids() - before == {intent_id}
    expect(receipt.locator(".charge-id")).to_have_text(intent.latest_charge.id)
    assert [c.status for c in shopper.charges(intent.id)].count("succeeded") == 1
    shopper.assert_console_clean(allow=(DECLINE_FETCH,))


def test_3d_secure_approved_in_the_challenge_frame_shows_the_receipt(shopper: Shopper) -> None:
    shopper.open_checkout(BOOK)
    shopper.fill_card(THREE_D_SECURE)
    shopper.start_paying()

    shopper.authenticate("Complete authentication")
    receipt = shopper.outcome()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.status == "succeeded"
    assert len(shopper.tokens) == 1
    expect(receipt.locator(".charge-id")).to_have_text(intent.latest_charge.id)
    expect(shopper.page).to_have_url(re.compile(rf"/success\?payment_intent={intent.id}&"))
    shopper.assert_console_clean()


def test_3d_secure_failed_in_the_challenge_frame_says_so_then_a_retry_pays_the_same_intent(
    shopper: Shopper,
) -> None:
    shopper.open_checkout(BOOK)
    shopper.fill_card("4000 0027 6000 3184")
    shopper.start_paying()

    shopper.authenticate("Fail authentication")
    outcome = shopper.outcome()

    expect(outcome).to_have_attribute("data-outcome", "declined")
    expect(outcome).to_have_attribute("data-code", "payment_intent_authentication_failure")
    expect(outcome).to_have_text(decline_message("payment_intent_authentication_failure"))
    intent_id = shopper.intent_id()
    assert shopper.intent().status == "requires_payment_method"

    shopper.fill_card(THREE_D_SECURE)
    shopper.start_paying()
    shopper.authenticate("Complete authentication")
    receipt = shopper.outcome()

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert (intent.id, intent.status) == (intent_id, "succeeded")
    assert len(shopper.tokens) == 2
    shopper.assert_console_clean()


def test_stripe_down_for_the_card_form_says_unavailable_creates_nothing_and_pays_after_recovery(
    shopper: Shopper, shop_sandbox: SandboxServer
) -> None:
    before = shopper.intent_ids()
    shopper.open_checkout(BOOK)
    shopper.fill_card(VISA)
    shop_sandbox.set_faults(fail_rate=1.0)

    shopper.start_paying()
    outcome = shopper.outcome()

    # Stripe.js could not make the ConfirmationToken: the shop's pay step was never called.
    expect(outcome).to_have_attribute("data-outcome", "unavailable")
    expect(outcome).to_contain_text("We couldn't reach our payment provider")
    expect(outcome).to_contain_text("You have not been charged")
    shop_sandbox.set_faults()
    assert shopper.intent_ids() == before

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.status == "succeeded"
    assert shopper.intent_ids() - before == {intent.id}
    # The card frame's request to the (failing) sandbox is the only failed load.
    shopper.assert_console_clean(allow=(r"status of 5\d\d .*/v1/confirmation_tokens",))


def test_stripe_down_at_the_pay_step_says_unavailable_creates_nothing_and_a_retry_pays(
    shopper: Shopper, shop_sandbox: SandboxServer
) -> None:
    before = shopper.intent_ids()
    shopper.open_checkout(BOOK)
    shopper.fill_card(VISA)

    def provider_goes_down(route: Route) -> None:
        # The token is made; Stripe fails from now on, just as the shop is asked to pay.
        shop_sandbox.set_faults(fail_rate=1.0)
        route.continue_()

    shopper.page.route(re.compile(PAY_STEP), provider_goes_down)
    shopper.start_paying()
    outcome = shopper.outcome()

    expect(outcome).to_have_attribute("data-outcome", "unavailable")
    expect(outcome).to_contain_text("We couldn't reach our payment provider")
    expect(outcome).to_contain_text("You have not been charged")
    # No link back to the POST that failed (it would answer 405): the shopper presses Pay again.
    expect(outcome.get_by_role("link")).to_have_count(0)
    expect(outcome).to_contain_text("Press Pay to try again")
    shopper.page.unroute(re.compile(PAY_STEP))
    shop_sandbox.set_faults()
    assert len(shopper.tokens) == 1
    assert shopper.intent_ids() == before  # nothing created, so nothing charged

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.status == "succeeded"
    assert len(shopper.tokens) == 2
    assert shopper.intent_ids() - before == {intent.id}
    # The shop answered the first attempt with a 503 (swapped in by htmx); nothing else may fail.
    shopper.assert_console_clean(allow=(pay_step_answered(503),))


def test_3d_secure_left_unfinished_keeps_its_order_when_a_reload_picks_another_quantity(
    shopper: Shopper,
) -> None:
    shopper.open_checkout(BOOK, quantity=3)
    shopper.fill_card(THREE_D_SECURE)
    shopper.start_paying()
    challenge = shopper.page.frame_locator(CHALLENGE_FRAME)
    expect(challenge.get_by_role("button", name="Complete authentication")).to_be_visible()
    intent_id = shopper.intent_id()  # the 3D Secure step names the intent it confirms
    assert shopper.intent().status == "requires_action"

    # The shopper gives up on the challenge, reloads (a page view asks Stripe nothing, so the
    # quantity can still be picked) and picks one copy: the pay step refuses to change an order
    # the bank is confirming and shows it, read only.
    shopper.page.reload()
    shopper.wait_for_payment_element()
    shopper.page.locator("#quantity").select_option("1")
    expect(shopper.total).to_have_attribute("data-amount", str(delivered(3200, 1)))
    shopper.fill_card(VISA)
    shopper.start_paying()

    summary = shopper.page.locator("#checkout-summary")
    expect(summary.locator(".alert")).to_contain_text("Your order changed")
    expect(shopper.page.locator("#live-alert")).to_contain_text("Your order changed")
    expect(summary.locator("select")).to_have_count(0)
    expect(shopper.total).to_have_attribute("data-amount", str(delivered(3 * 3200, 3)))
    expect(shopper.pay_button).to_have_attribute("aria-disabled", "false")
    expect(shopper.result).to_be_empty()
    assert shopper.intent(intent_id).status == "requires_action"

    receipt = shopper.pay(VISA)

    expect(receipt).to_have_attribute("data-outcome", "succeeded")
    intent = shopper.intent()
    assert intent.id == intent_id
    assert (intent.status, intent.amount) == ("succeeded", delivered(3 * 3200, 3))
    assert intent.metadata["lines_1"] == f"{BOOK}:3:3200"
    expect(receipt.locator(".receipt-amount")).to_have_text(money(delivered(3 * 3200, 3)))
    shopper.assert_console_clean(allow=(pay_step_answered(409),))
