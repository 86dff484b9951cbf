"""The one reading of Stripe's JSON: Stripe's own example objects and the shop's checkouts alike."""

from __future__ import annotations

from typing import Any

from bookshop.basket import MAX_QUANTITY, MAX_TITLES
from bookshop.catalog.books import MAX_ID_LENGTH, MAX_PRICE
from bookshop.payments import IntentLine, Refund, read_event, read_intent, read_refund
from bookshop.payments.objects import lines_metadata
from tests.fixtures.stripe_data import example_object


def checkout(**changes: Any) -> dict[str, Any]:
    """Stripe's example PaymentIntent, as one of the shop's checkouts with `changes`."""
    intent = dict(example_object("payment_intent"))
    intent["metadata"] = {"lines_1": "code:2:2900,hackers:1:2200", "checkout": "c1"}
    intent["last_payment_error"] = None
    return {**intent, **changes}


def test_stripes_example_intent_reads_as_no_checkout_of_the_shops() -> None:
    intent = read_intent(example_object("payment_intent"))
    assert (intent.id, intent.amount, intent.currency) == (
        "pi_1PgafyB7WZ01zgkWSjxsAJo3",
        1099,
        "usd",
    )
    assert (intent.lines, intent.checkout_id) == ((), "")
    assert intent.payable and intent.charge is None and intent.charge_id is None


def test_a_checkout_reads_its_lines_from_the_metadata() -> None:
    intent = read_intent(checkout())
    assert intent.lines == (IntentLine("code", 2, 2900), IntentLine("hackers", 1, 2200))
    assert (intent.checkout_id, intent.outcome) == ("c1", "open")
    assert intent.lines_key == "code:2:2900,hackers:1:2200"


def test_an_intent_made_before_the_cart_reads_as_one_line_at_its_amount() -> None:
    intent = read_intent(checkout(amount=5800, metadata={"book": "code", "quantity": "2"}))
    assert intent.lines == (IntentLine("code", 2, 2900),)


def test_lines_the_shop_did_not_write_read_as_none_rather_than_wrong() -> None:
    for metadata in (
        {"book": "code"},
        {"book": "code", "quantity": "two"},
        {"lines_1": "code:2:2900,<script>:1:1"},
        {"lines_1": "code:0:2900"},
    ):
        assert read_intent(checkout(metadata=metadata)).lines == ()


def test_many_lines_split_over_metadata_values_within_stripes_limits_and_read_back() -> None:
    key = ",".join(f"a-book-with-a-rather-long-id-{n:02d}:10:123456" for n in range(20))
    metadata = lines_metadata(key)
    assert all(len(value) <= 500 for value in metadata.values())
    assert [name for name, value in metadata.items() if value] == ["lines_1", "lines_2"]
    assert read_intent(checkout(metadata={**metadata, "checkout": "c1"})).lines_key == key


def test_the_largest_cart_the_catalog_allows_fits_the_metadata_and_reads_back() -> None:
    # Every title at the longest id and the highest price the catalog accepts, ten copies each.
    ids = [f"{n:02d}-" + "b" * (MAX_ID_LENGTH - 3) for n in range(MAX_TITLES)]
    key = ",".join(f"{book_id}:{MAX_QUANTITY}:{MAX_PRICE}" for book_id in ids)
    metadata = lines_metadata(key)
    assert all(len(value) <= 500 for value in metadata.values())
    assert read_intent(checkout(metadata={**metadata, "checkout": "c1"})).lines_key == key


def test_a_decline_reads_its_most_specific_code() -> None:
    declined = checkout(
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "lost_card",
        }
    )
    expired = checkout(last_payment_error={"type": "card_error", "code": "expired_card"})
    assert (read_intent(declined).outcome, read_intent(declined).decline_code) == (
        "declined",
        "lost_card",
    )
    assert read_intent(expired).decline_code == "expired_card"


def test_an_expanded_charge_reads_as_the_receipt() -> None:
    charge = {**example_object("charge"), "receipt_email": "ada@example.com"}
    intent = read_intent(checkout(status="succeeded", latest_charge=charge))
    assert intent.outcome == "succeeded"
    assert intent.charge is not None and intent.charge_id == charge["id"]
    assert (intent.charge.card_brand, intent.charge.card_last4) == ("visa", "4242")
    assert intent.email == "ada@example.com"


def test_an_expanded_charges_refunds_read_newest_first_with_the_shops_reason() -> None:
    stripes = example_object("refund")
    mine = {**stripes, "id": "re_2", "amount": 300, "metadata": {"reason": "damaged book"}}
    theirs = {**stripes, "reason": "requested_by_customer"}  # made in Stripe's dashboard
    refunds = {**example_object("charge")["refunds"], "data": [mine, theirs, stripes]}
    charge = {
        **example_object("charge"),
        "amount": 1000,
        "amount_refunded": 500,
        "refunds": refunds,
    }
    read = read_intent(checkout(status="succeeded", latest_charge=charge)).charge
    assert read is not None
    assert (read.amount, read.amount_refunded, read.refunded) == (1000, 500, False)
    assert read.refunds == (
        Refund("re_2", 300, 1234567890, "succeeded", "damaged book"),
        Refund(stripes["id"], 100, 1234567890, "succeeded", "requested_by_customer"),
        Refund(stripes["id"], 100, 1234567890, "succeeded", None),
    )
    assert read_refund(mine) == read.refunds[0]


def test_a_charge_without_its_refunds_expanded_reads_as_none_listed() -> None:
    charge = {key: value for key, value in example_object("charge").items() if key != "refunds"}
    read = read_intent(checkout(status="succeeded", latest_charge=charge)).charge
    assert read is not None and read.refunds == ()


def test_an_unexpanded_charge_is_only_its_id() -> None:
    intent = read_intent(checkout(status="succeeded", latest_charge="ch_123"))
    assert (intent.charge_id, intent.charge) == ("ch_123", None)


def test_events_read_the_intent_or_the_charge_they_carry() -> None:
    base = {"id": "evt_1", "created": 1_800_000_000, "object": "event"}
    paid = read_event(
        {
            **base,
            "type": "payment_intent.succeeded",
            "data": {"object": checkout(status="succeeded")},
        }
    )
    assert paid.intent is not None and paid.intent_id == paid.intent.id
    assert paid.intent.lines[0] == IntentLine("code", 2, 2900)
    charge = {**example_object("charge"), "payment_intent": "pi_9", "amount_refunded": 100}
    refunded = read_event({**base, "type": "charge.refunded", "data": {"object": charge}})
    assert (refunded.intent_id, refunded.charge_id, refunded.amount_refunded) == (
        "pi_9",
        charge["id"],
        100,
    )
    other = read_event({**base, "type": "plan.created", "data": example_object("event")["data"]})
    assert other.intent_id is None
