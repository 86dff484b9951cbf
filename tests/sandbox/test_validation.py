"""Requests Stripe refuses are refused, with Stripe's error, and leave no idempotent result."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import stripe

from bookshop.sandbox import api, errors, validation
from bookshop.sandbox.errors import StripeError
from bookshop.sandbox.store import Collection, Store
from tests.fixtures.sandbox import SandboxServer
from tests.sandbox.helpers import new_intent

INTENT = "{intent}"  # replaced by a real PaymentIntent's id
INTENTS = "/v1/payment_intents"
UNKNOWN = ("invalid_request_error", "parameter_unknown")
MISSING = ("invalid_request_error", "parameter_missing")
INVALID = ("invalid_request_error", None)
RAW_CARD_MESSAGE = (
    "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you "
    "use test tokens that map to the test card you are using, see https://stripe.com/docs/testing. "
    "To enable raw card data APIs in test mode, see "
    "https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis."
)


def not_supported(param: str, detail: str = "") -> str:
    """The sandbox's refusal of a parameter Stripe takes but the sandbox would ignore."""
    return f"The sandbox does not support the parameter {param}{detail}."


# (method, path, form, type and code, param, message): each a request Stripe answers with 400.
REFUSED: dict[str, tuple[str, str, dict[str, str], tuple[str, str | None], str | None, str]] = {
    "unknown at the top": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "bogus": "1"},
        UNKNOWN,
        "bogus",
        "Received unknown parameter: bogus",
    ),
    "unknown nested": (
        "POST",
        INTENTS,
        {
            "amount": "1000",
            "currency": "usd",
            "automatic_payment_methods[enabled]": "true",
            "automatic_payment_methods[bogus]": "1",
        },
        UNKNOWN,
        "automatic_payment_methods[bogus]",
        "Received unknown parameter: automatic_payment_methods[bogus]",
    ),
    "unknown in the query": (
        "GET",
        f"{INTENTS}?bogus=1",
        {},
        UNKNOWN,
        "bogus",
        "Received unknown parameter: bogus",
    ),
    "unknown on update": (
        "POST",
        f"{INTENTS}/{INTENT}",
        {"bogus": "1"},
        UNKNOWN,
        "bogus",
        "Received unknown parameter: bogus",
    ),
    "capture_method outside its enum": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "capture_method": "sometimes"},
        INVALID,
        "capture_method",
        "Invalid capture_method: must be one of automatic, automatic_async, or manual",
    ),
    "refund reason outside its enum": (
        "POST",
        "/v1/refunds",
        {"payment_intent": INTENT, "reason": "because"},
        INVALID,
        "reason",
        "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
    ),
    "metadata value of 501 characters": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "metadata[note]": "n" * 501},
        INVALID,
        "metadata",
        "Metadata values can have up to 500 characters, but you passed in a value that is 501 "
        f"characters. Invalid value: {'n' * 501}",
    ),
    "metadata key of 41 characters": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", f"metadata[{'k' * 41}]": "v"},
        INVALID,
        "metadata",
        "Metadata keys can have up to 40 characters, but you passed in a key that is 41 "
        f"characters. Invalid key: {'k' * 41}",
    ),
    "description of 1001 characters": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "description": "d" * 1001},
        INVALID,
        "description",
        "Invalid string: dddddddddd...dddddddddd; must be at most 1000 characters",
    ),
    "an empty string where nothing can be unset": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "description": ""},
        ("invalid_request_error", "parameter_invalid_empty"),
        "description",
        "You passed an empty string for 'description'. We assume empty values are an attempt to "
        "unset a parameter; however 'description' cannot be unset. You should remove "
        "'description' from your request or supply a non-empty value.",
    ),
    "a hash where a string goes": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency[0]": "usd", "currency[1]": "eur"},
        INVALID,
        "currency",
        'Invalid string: {"0":"usd","1":"eur"}',
    ),
    "a boolean that is neither": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "automatic_payment_methods[enabled]": "yes"},
        INVALID,
        "automatic_payment_methods[enabled]",
        "Invalid boolean: yes",
    ),
    "expand of a field that is not expandable": (
        "GET",
        f"{INTENTS}/{INTENT}?expand[]=metadata",
        {},
        INVALID,
        None,
        "This property cannot be expanded (metadata).",
    ),
    "expand of a field of a field that is not expandable": (
        "GET",
        f"{INTENTS}/{INTENT}?expand[]=latest_charge.bogus",
        {},
        INVALID,
        None,
        "This property cannot be expanded (latest_charge.bogus).",
    ),
    "expand in a list without data.": (
        "GET",
        f"{INTENTS}?expand[]=latest_charge",
        {},
        INVALID,
        None,
        "This property cannot be expanded (latest_charge). You may want to try expanding "
        "'data.latest_charge' instead.",
    ),
    "expand of more than four levels": (
        "GET",
        f"{INTENTS}?expand[]=data.latest_charge.payment_intent.latest_charge.review",
        {},
        INVALID,
        None,
        "You cannot expand more than 4 levels of a property.",
    ),
    "an integer beyond 64 bits": (
        "POST",
        INTENTS,
        {"amount": "9" * 30, "currency": "usd"},
        ("invalid_request_error", "parameter_invalid_integer"),
        "amount",
        f"Invalid integer: {'9' * 30}",
    ),
    "expand of a list's items themselves": (
        "GET",
        f"{INTENTS}?expand[]=data",
        {},
        INVALID,
        None,
        "This property cannot be expanded (data).",
    ),
    "a name nested deeper than any parameter": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "metadata" + "[a]" * 900: "x"},
        INVALID,
        "metadata",
        "Invalid parameter name: metadata nests more than 16 levels deep",
    ),
    "a card number sent with the secret key": (
        "POST",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
        },
        INVALID,
        None,
        RAW_CARD_MESSAGE,
    ),
    # Stripe takes these; the sandbox would ignore them, so it refuses them instead.
    "a customer, which the sandbox does not keep": (
        "POST",
        INTENTS,
        {"amount": "1000", "currency": "usd", "customer": "cus_nope"},
        INVALID,
        "customer",
        not_supported("customer"),
    ),
    "a customer filter on a list": (
        "GET",
        f"{INTENTS}?customer=cus_nope",
        {},
        INVALID,
        "customer",
        not_supported("customer"),
    ),
    "manual capture, which the sandbox cannot do": (
        "POST",
        INTENTS,
        {
            "amount": "1000",
            "currency": "usd",
            "capture_method": "manual",
            "confirm": "true",
            "payment_method": "pm_card_visa",
        },
        INVALID,
        "capture_method",
        not_supported("capture_method", " set to manual"),
    ),
    "an update the sandbox would drop": (
        "POST",
        f"{INTENTS}/{INTENT}",
        {"capture_method": "automatic"},
        INVALID,
        "capture_method",
        not_supported("capture_method"),
    ),
    "a confirm option the sandbox would drop": (
        "POST",
        f"{INTENTS}/{INTENT}/confirm",
        {"payment_method": "pm_card_visa", "off_session": "true"},
        INVALID,
        "off_session",
        not_supported("off_session"),
    ),
    "shipping without a name": (
        "POST",
        INTENTS,
        {
            "amount": "1000",
            "currency": "usd",
            "shipping[address][line1]": "1 Book Street",
        },
        MISSING,
        "shipping[name]",
        "Missing required param: shipping[name].",
    ),
    "shipping without an address line": (
        "POST",
        INTENTS,
        {
            "amount": "1000",
            "currency": "usd",
            "shipping[name]": "Ada Reader",
            "shipping[address][city]": "London",
        },
        MISSING,
        "shipping[address][line1]",
        "Missing required param: shipping[address][line1].",
    ),
}


@pytest.mark.parametrize(
    ("method", "path", "form", "kind", "param", "message"),
    REFUSED.values(),
    ids=REFUSED.keys(),
)
def test_a_request_stripe_refuses_gets_stripes_error(
    sandbox: SandboxServer,
    method: str,
    path: str,
    form: dict[str, str],
    kind: tuple[str, str | None],
    param: str | None,
    message: str,
) -> None:
    intent = new_intent(sandbox.client()).id
    path = path.replace(INTENT, intent)
    form = {name: value.replace(INTENT, intent) for name, value in form.items()}
    response = httpx.request(
        method,
        f"{sandbox.url}{path}",
        data=form or None,
        headers={"Authorization": f"Bearer {sandbox.secret_key}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error.get("code")) == kind
    assert error.get("param") == param
    assert error["message"] == message


# What spoils a valid PaymentIntent creation: refused by validation or, for the rules that need
# more than the parameters' types, by the store; either way before anything ran.
SPOILED: dict[str, dict[str, str]] = {
    "capture_method outside its enum": {"capture_method": "x"},
    "a currency Stripe does not take": {"currency": "xyz"},
    "an amount below the currency's minimum": {"amount": "1"},
    "a receipt_email that is no address": {"receipt_email": "nope"},
    "more metadata keys than Stripe keeps": {f"metadata[k{i}]": "v" for i in range(51)},
    "a parameter the sandbox does not support": {"customer": "cus_nope"},
    "an expansion the sandbox cannot make": {"expand[0]": "customer"},
}


@pytest.mark.parametrize("spoiled", SPOILED.values(), ids=SPOILED.keys())
def test_a_refused_request_saves_nothing_under_its_idempotency_key(
    sandbox: SandboxServer, spoiled: dict[str, str]
) -> None:
    headers = {
        "Authorization": f"Bearer {sandbox.secret_key}",
        "Idempotency-Key": f"fix-and-retry-{uuid.uuid4()}",
    }
    url = f"{sandbox.url}{INTENTS}"
    valid = {"amount": "1000", "currency": "usd"}
    refused = httpx.post(url, data={**valid, **spoiled}, headers=headers)
    assert refused.status_code == 400, refused.text
    corrected = httpx.post(url, data=valid, headers=headers)
    assert corrected.status_code == 200, corrected.text
    replayed = httpx.post(url, data=valid, headers=headers)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == corrected.json()["id"]


def test_a_refused_update_changes_nothing(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = new_intent(client, 2000, metadata={"book": "b1"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.update(
            intent.id,
            {"amount": 3000, "metadata": {"note": "n"}, "receipt_email": "nope"},
        )
    assert caught.value.code == "email_invalid"
    unchanged = client.v1.payment_intents.retrieve(intent.id)
    assert (unchanged.amount, unchanged.metadata.to_dict()) == (2000, {"book": "b1"})


def test_numeric_metadata_keys_stay_keys(sandbox: SandboxServer) -> None:
    # stripe-python sends {"1": "book"} as metadata[1]=book, the form it sends arrays in too.
    intent = new_intent(sandbox.client(), metadata={"1": "book", "2": "pen"})
    assert intent.metadata.to_dict() == {"1": "book", "2": "pen"}
    indexed = validation.check(
        validation.endpoint("POST", INTENTS),
        {
            "amount": "1000",
            "currency": "usd",
            "expand": {"1": "payment_method", "0": "latest_charge"},
        },
    )
    assert indexed["expand"] == ["latest_charge", "payment_method"]


def test_stripe_python_sees_a_refusal_as_an_invalid_request(sandbox: SandboxServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_intent(sandbox.client(), capture_method="sometimes")
    assert (caught.value.http_status, caught.value.param) == (400, "capture_method")


def test_stripe_js_fields_are_accepted_only_with_the_publishable_key() -> None:
    confirm = f"{INTENTS}/pi_123/confirm"
    browser = {
        "client_secret": "pi_123_secret_abc",
        "expected_payment_method_type": "card",
        "payment_method_data": {"type": "card", "card": {"number": "4242424242424242"}},
    }
    validation.validate("POST", confirm, browser, publishable=True)
    with pytest.raises(StripeError) as caught:
        validation.validate("POST", confirm, browser)
    assert caught.value.param == "client_secret"
    with pytest.raises(StripeError) as caught:
        server_side = {"payment_method_data": browser["payment_method_data"]}
        validation.validate("POST", confirm, server_side)
    assert caught.value.param == "payment_method_data[card]"


def test_params_type_names_the_stripe_python_typed_dict_of_an_endpoint() -> None:
    assert validation.params_type("POST", INTENTS) is stripe.params.PaymentIntentCreateParams
    assert (
        validation.params_type("POST", f"{INTENTS}/pi_123/confirm")
        is stripe.params.PaymentIntentConfirmParams
    )
    assert validation.params_type("GET", "/v1/events/evt_1") is stripe.params.EventRetrieveParams
    with pytest.raises(validation.UnknownEndpoint):
        validation.params_type("GET", "/v1/customers")


def test_validate_takes_parameters_as_given_to_stripe_python() -> None:
    shop_create: dict[str, Any] = {
        "amount": 2800,
        "currency": "sgd",
        "automatic_payment_methods": {"enabled": True},
        "description": "A book (quantity 1)",
        "metadata": {"book": "b1", "quantity": "1"},
        "expand": ["latest_charge"],
        "shipping": None,  # stripe-python leaves out what is None
    }
    validation.validate("POST", INTENTS, shop_create)
    with pytest.raises(StripeError) as caught:
        validation.validate("POST", INTENTS, {**shop_create, "amount": "2800.5"})
    assert (caught.value.code, caught.value.param) == ("parameter_invalid_integer", "amount")
    with pytest.raises(validation.UnknownEndpoint):
        validation.validate("DELETE", INTENTS, {})


def test_every_endpoint_validated_is_served_and_every_one_served_is_validated() -> None:
    assert set(api.ROUTES) == set(validation.ENDPOINTS)


@pytest.mark.parametrize(
    ("method", "path", "expand", "message"),
    [
        ("POST", INTENTS, "customer", "customer: it keeps no customer objects."),
        ("GET", f"{INTENTS}/pi_1", "latest_charge.balance_transaction", "latest_charge.bal"),
        ("GET", f"{INTENTS}/pi_1", "source", "source: it keeps none of the objects this"),
        ("POST", "/v1/refunds", "balance_transaction", "balance_transaction: it keeps no bal"),
    ],
)
def test_an_expansion_to_an_object_the_sandbox_keeps_none_of_is_refused_before_it_runs(
    method: str, path: str, expand: str, message: str
) -> None:
    form: dict[str, Any] = {"amount": 1000, "currency": "usd"} if path == INTENTS else {}
    with pytest.raises(StripeError) as caught:
        validation.validate(method, path, {**form, "expand": [expand]})
    assert type(caught.value) is errors.ParamError  # refused before running: nothing saved
    assert caught.value.message.startswith(f"The sandbox cannot expand {message}")


def test_the_kinds_an_expansion_may_reach_are_those_the_store_keeps() -> None:
    collections = {
        name.removesuffix("s")
        for name, value in vars(Store()).items()
        if isinstance(value, Collection)
    }
    kept = {kind.OBJECT_NAME for kind in validation.KEPT} - {"list"}  # a Charge's refunds
    assert kept == collections
