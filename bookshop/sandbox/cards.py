"""Stripe's test cards: what each number does, and the checks a card must pass to be sent."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from enum import Enum

from bookshop.sandbox.errors import StripeError, missing_param


class Behaviour(Enum):
    """What happens when a card is charged."""

    SUCCEED = "succeed"
    DECLINE = "decline"
    THREE_DS = "three_d_secure"


@dataclass(frozen=True)
class Decline:
    """A failed charge: the error the API returns and the Charge's outcome."""

    code: str
    decline_code: str | None
    message: str
    param: str | None = None
    outcome_type: str = "issuer_declined"
    network_status: str = "declined_by_network"
    risk_level: str = "normal"
    reason: str | None = None
    seller_message: str | None = None

    def outcome_reason(self) -> str:
        """Why the charge failed, as Charge.outcome.reason says."""
        return self.reason or self.decline_code or self.code

    def outcome_seller_message(self) -> str:
        """The merchant-facing explanation Stripe puts in Charge.outcome.seller_message."""
        if self.seller_message:
            return self.seller_message
        return f"The bank returned the decline code `{self.decline_code or self.code}`."


@dataclass(frozen=True)
class TestCard:
    """One row of Stripe's test-card table."""

    number: str
    scenario: str
    behaviour: Behaviour
    decline: Decline | None = None


GENERIC_DECLINE = Decline(
    "card_declined",
    "generic_decline",
    "Your card was declined.",
    seller_message="The bank did not return any further details with this decline.",
)
INSUFFICIENT_FUNDS = Decline(
    "card_declined", "insufficient_funds", "Your card has insufficient funds."
)
AUTHENTICATION_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)

# Transcribed from Stripe's test-card table (tests/fixtures/stripe/test-cards.tsv, which the tests
# check this against); the sandbox never reads that file.
TEST_CARDS: dict[str, TestCard] = {
    card.number: card
    for card in (
        TestCard("4242424242424242", "success (Visa)", Behaviour.SUCCEED),
        TestCard("5555555555554444", "success (Mastercard)", Behaviour.SUCCEED),
        TestCard("4000000000000002", "generic decline", Behaviour.DECLINE, GENERIC_DECLINE),
        TestCard("4000000000009995", "insufficient funds", Behaviour.DECLINE, INSUFFICIENT_FUNDS),
        TestCard(
            "4000000000009987",
            "lost card",
            Behaviour.DECLINE,
            Decline("card_declined", "lost_card", "Your card was declined."),
        ),
        TestCard(
            "4000000000009979",
            "stolen card",
            Behaviour.DECLINE,
            Decline("card_declined", "stolen_card", "Your card was declined."),
        ),
        TestCard(
            "4100000000000019",
            "blocked as fraudulent",
            Behaviour.DECLINE,
            # Radar blocks this one before it reaches the card network.
            Decline(
                "card_declined",
                "fraudulent",
                "Your card was declined.",
                outcome_type="blocked",
                network_status="not_sent_to_network",
                risk_level="highest",
                reason="highest_risk_level",
                seller_message="Stripe blocked this payment as too risky.",
            ),
        ),
        TestCard(
            "4000000000000069",
            "expired card",
            Behaviour.DECLINE,
            Decline("expired_card", None, "Your card has expired.", param="exp_month"),
        ),
        TestCard(
            "4000000000000127",
            "incorrect CVC",
            Behaviour.DECLINE,
            Decline("incorrect_cvc", None, "Your card's security code is incorrect.", param="cvc"),
        ),
        TestCard(
            "4000000000000119",
            "processing error",
            Behaviour.DECLINE,
            Decline(
                "processing_error",
                None,
                "An error occurred while processing your card. Try again in a little bit.",
            ),
        ),
        TestCard("4000002500003155", "3D Secure required", Behaviour.THREE_DS),
        TestCard("4000002760003184", "3D Secure always required", Behaviour.THREE_DS),
        TestCard(
            "4000008260003178",
            "3D Secure, then insufficient funds",
            Behaviour.THREE_DS,
            INSUFFICIENT_FUNDS,
        ),
    )
}

# Stripe's ready-made test PaymentMethods, usable as `payment_method=pm_card_visa`.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedFraudulent": "4100000000000019",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequired": "4000002500003155",
    "pm_card_threeDSecure2Required": "4000002760003184",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
}


def lookup(number: str) -> TestCard:
    """The test card for a number; any other valid number succeeds like 4242."""
    return TEST_CARDS.get(number) or TestCard(number, "other valid number", Behaviour.SUCCEED)


def brand(number: str) -> str:
    """The card network, from the number's leading digits."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith(("6011", "65")) or "644" <= number[:3] <= "649":
        return "discover"
    if "3528" <= number[:4] <= "3589":
        return "jcb"
    if number[:2] in {"36", "38", "30"}:
        return "diners"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def fingerprint(number: str) -> str:
    """A stable per-number fingerprint, like Stripe's (which never reveals the number)."""
    digest = hashlib.sha256(("sandbox-card:" + number).encode()).hexdigest()
    return digest[:16]


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every real card number satisfies."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_error(code: str, message: str, param: str) -> StripeError:
    """402 card_error for card details Stripe rejects before charging."""
    return StripeError(402, message, type="card_error", code=code, param=param)


@dataclass(frozen=True)
class CardDetails:
    """Validated raw card details (kept only inside the sandbox)."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str | None


def validate(
    number: str | None,
    exp_month: str | None,
    exp_year: str | None,
    cvc: str | None,
    today: datetime.date | None = None,
) -> CardDetails:
    """Reject card details as Stripe does: number, then expiry month and year, then CVC."""
    if not number:
        raise missing_param("card[number]")
    digits = number.replace(" ", "")
    if not luhn_valid(digits):
        raise card_error("incorrect_number", "Your card number is incorrect.", "number")
    month = _as_int(exp_month)
    if month is None or not 1 <= month <= 12:
        raise card_error(
            "invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month"
        )
    year = _as_int(exp_year)
    if year is None:
        raise card_error(
            "invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year"
        )
    if year < 100:
        year += 2000
    today = today or datetime.date.today()
    if year < today.year or year > today.year + 50:
        raise card_error(
            "invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year"
        )
    if year == today.year and month < today.month:
        raise card_error(
            "invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month"
        )
    if cvc is not None and cvc != "":
        wanted = 4 if brand(digits) == "amex" else 3
        if not cvc.isdigit() or len(cvc) != wanted:
            raise card_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
    return CardDetails(digits, month, year, cvc or None)


def _as_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
