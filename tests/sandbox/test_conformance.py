"""Every answer of every endpoint has the shape of Stripe's: stripe-python's classes and examples.

One module-wide run drives the sandbox with stripe-python through every endpoint it serves (and
the calls Stripe.js makes with the publishable key), recording each call's path. Each answer is
then checked against the stripe-python class of its object: no key the class lacks, every value
of the type its annotation gives (recursively, expanded objects and event snapshots included),
and every key of Stripe's own example object present.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, ForwardRef, Literal, Union
from urllib.parse import urlsplit

import pytest
import stripe

from bookshop.sandbox import api, validation
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.stripe_data import example_object
from tests.sandbox.helpers import ONLY_WHEN_EXPANDED, card_data

RESOURCES: dict[str, type] = {
    cls.OBJECT_NAME: cls
    for cls in (
        stripe.PaymentIntent,
        stripe.Charge,
        stripe.PaymentMethod,
        stripe.ConfirmationToken,
        stripe.Refund,
        stripe.Event,
    )
}


class RecordingClient(stripe.RequestsClient):
    """stripe-python's HTTP client, noting the method and path of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        self.seen.append((method.upper(), urlsplit(url).path))
        return super().request(method, url, headers, post_data)


def body(obj: stripe.StripeObject) -> dict[str, Any]:
    """The JSON the sandbox sent, as stripe-python received it."""
    assert obj.last_response is not None
    data: dict[str, Any] = obj.last_response.data  # type: ignore[assignment]
    return data


@pytest.fixture(scope="module")
def run(sandbox_server: SandboxServer) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """Every call, in an order that gives each what it needs; the answers by name, the paths."""
    recorder = RecordingClient()
    sk = sandbox_server.client(http_client=recorder)
    pk = sandbox_server.client(api_key=sandbox_server.publishable_key, http_client=recorder)
    answers: dict[str, dict[str, Any]] = {}
    shipping: Any = {"name": "Ada Reader", "address": {"line1": "1 Book Street", "country": "GB"}}

    intent = sk.v1.payment_intents.create(
        {
            "amount": 2500,
            "currency": "gbp",
            "automatic_payment_methods": {"enabled": True},
            "description": "Two books",
            "metadata": {"order": "42"},
            "receipt_email": "ada@example.com",
            "shipping": shipping,
        }
    )
    answers["create payment intent"] = body(intent)
    answers["retrieve payment intent"] = body(sk.v1.payment_intents.retrieve(intent.id))
    answers["update payment intent"] = body(
        sk.v1.payment_intents.update(intent.id, {"amount": 3000, "metadata": {"b": "2"}})
    )
    confirmed = sk.v1.payment_intents.confirm(
        intent.id,
        {"payment_method": "pm_card_visa", "expand": ["latest_charge", "payment_method"]},
    )
    answers["confirm payment intent, expanded"] = body(confirmed)
    answers["list payment intents, expanded"] = body(
        sk.v1.payment_intents.list({"limit": 3, "expand": ["data.latest_charge"]})
    )
    charge_id = body(confirmed)["latest_charge"]["id"]
    answers["retrieve charge"] = body(sk.v1.charges.retrieve(charge_id))
    answers["list charges"] = body(sk.v1.charges.list({"payment_intent": intent.id}))
    refund = sk.v1.refunds.create({"charge": charge_id, "amount": 1000, "reason": "duplicate"})
    answers["create refund"] = body(refund)
    answers["retrieve refund"] = body(sk.v1.refunds.retrieve(refund.id))
    answers["list refunds"] = body(sk.v1.refunds.list({"limit": 3}))
    answers["retrieve refunded charge"] = body(sk.v1.charges.retrieve(charge_id))
    answers["retrieve refunded charge, refunds expanded"] = body(
        sk.v1.charges.retrieve(charge_id, {"expand": ["refunds"]})
    )

    declined = sk.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.CardError) as error:
        sk.v1.payment_intents.confirm(declined.id, {"payment_method": "pm_card_chargeDeclined"})
    answers["declined confirm's payment intent"] = error.value.json_body["error"]["payment_intent"]  # type: ignore[index]
    canceled = sk.v1.payment_intents.cancel(declined.id, {"cancellation_reason": "abandoned"})
    answers["cancel payment intent"] = body(canceled)

    # What Stripe.js does in the browser, with the publishable key and the client secret.
    browser = sk.v1.payment_intents.create({"amount": 1800, "currency": "eur"})
    secret = {"client_secret": browser.client_secret}
    answers["browser retrieve"] = body(
        pk.v1.payment_intents.retrieve(browser.id, secret)  # type: ignore[arg-type]
    )
    challenge = pk.v1.payment_intents.confirm(
        browser.id,
        {**secret, "payment_method_data": card_data("4000002500003155")},  # type: ignore[arg-type]
    )
    answers["browser confirm, 3D Secure asked"] = body(challenge)
    method = pk.v1.payment_methods.create(card_data("5555555555554444"))  # type: ignore[arg-type]
    answers["browser create payment method"] = body(method)
    answers["retrieve payment method"] = body(sk.v1.payment_methods.retrieve(method.id))

    # ConfirmationTokens: Stripe.js's (the card iframe's POST, with the publishable key), the test
    # helper's, and the server's create-and-confirm with one.
    made = pk.raw_request(
        "post",
        "/v1/confirmation_tokens",
        payment_method_data=card_data("4242424242424242"),
        shipping=shipping,
        return_url="https://shop.example/checkout/done",
    )
    assert made.code == 200, made.body
    answers["browser create confirmation token"] = made.data
    token = sk.v1.test_helpers.confirmation_tokens.create(
        {"payment_method": "pm_card_threeDSecure2Required", "shipping": shipping}
    )
    answers["test helper create confirmation token"] = body(token)
    paid = sk.v1.payment_intents.create(
        {
            "amount": 1200,
            "currency": "gbp",
            "confirm": True,
            "confirmation_token": made.data["id"],
            "return_url": "https://shop.example/checkout/done",
            "expand": ["latest_charge"],
        }
    )
    answers["create and confirm with a confirmation token"] = body(paid)
    asked = sk.v1.payment_intents.confirm(
        sk.v1.payment_intents.create({"amount": 1200, "currency": "gbp"}).id,
        {"confirmation_token": token.id},
    )
    answers["confirm with a confirmation token, 3D Secure asked"] = body(asked)
    answers["retrieve used confirmation token"] = body(
        sk.v1.confirmation_tokens.retrieve(made.data["id"])
    )

    events = sk.v1.events.list({"limit": 30})
    answers["list events"] = body(events)
    answers["retrieve event"] = body(sk.v1.events.retrieve(events.data[0].id))
    return answers, recorder.seen


# Answers to the publishable key: Stripe itself shows only some fields (test_auth checks which).
BROWSER_VIEWS = ("browser retrieve", "browser confirm, 3D Secure asked")
CALLS = (
    "create payment intent",
    "retrieve payment intent",
    "update payment intent",
    "confirm payment intent, expanded",
    "list payment intents, expanded",
    "retrieve charge",
    "list charges",
    "create refund",
    "retrieve refund",
    "list refunds",
    "retrieve refunded charge",
    "retrieve refunded charge, refunds expanded",
    "declined confirm's payment intent",
    "cancel payment intent",
    "browser retrieve",
    "browser confirm, 3D Secure asked",
    "browser create payment method",
    "retrieve payment method",
    "browser create confirmation token",
    "test helper create confirmation token",
    "create and confirm with a confirmation token",
    "confirm with a confirmation token, 3D Secure asked",
    "retrieve used confirmation token",
    "list events",
    "retrieve event",
)


def items(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects an answer holds: itself, or a list's items."""
    return list(answer["data"]) if answer["object"] == "list" else [answer]


@pytest.mark.parametrize("name", CALLS)
def test_an_answer_has_only_stripe_pythons_fields_with_their_types(
    run: tuple[dict[str, dict[str, Any]], list[tuple[str, str]]], name: str
) -> None:
    answer = run[0][name]
    annotation = None  # the class the answer's `object` names
    if answer["object"] == "list":
        annotation = stripe.ListObject[RESOURCES[answer["data"][0]["object"]]]  # type: ignore[misc]
    found = problems(answer, annotation, name)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", [name for name in CALLS if name not in BROWSER_VIEWS])
def test_an_answer_has_every_key_of_stripes_example_object(
    run: tuple[dict[str, dict[str, Any]], list[tuple[str, str]]], name: str
) -> None:
    for obj in items(run[0][name]):
        missing = missing_keys(obj, expected_keys(obj["object"]), obj["object"])
        assert not missing, f"{obj['id']} lacks {missing}"


# Stripe's example objects in tests/fixtures/stripe hold no ConfirmationToken: its answers must
# carry every field stripe-python's class declares instead, and in its payment method preview
# what the sandbox's own PaymentMethod shows of a card (Stripe's example PaymentMethod's keys).
DECLARED_ONLY = {"confirmation_token": stripe.ConfirmationToken}


def expected_keys(kind: str) -> dict[str, Any]:
    """Stripe's example object of a kind, or for a kind with none, a stand-in holding every key
    its stripe-python class declares (and, for a ConfirmationToken, a card preview's keys)."""
    if kind not in DECLARED_ONLY:
        return example_object(kind)
    declared: dict[str, Any] = dict.fromkeys(fields_declared(DECLARED_ONLY[kind]))
    method = example_object("payment_method")
    preview = fields_declared(stripe.ConfirmationToken.PaymentMethodPreview)
    declared["payment_method_preview"] = {
        **{key: method[key] for key in method if key in preview},
        "card": method["card"],
    }
    return declared


def fields_declared(cls: type) -> list[str]:
    """The fields a stripe-python class declares a value of this kind has."""
    return [name for name in cls.__annotations__ if name != "OBJECT_NAME"]


def test_a_confirmation_token_carries_every_field_stripe_python_declares(
    run: tuple[dict[str, dict[str, Any]], list[tuple[str, str]]],
) -> None:
    token = run[0]["retrieve used confirmation token"]
    assert set(fields_declared(stripe.ConfirmationToken)) <= set(token)
    preview = token["payment_method_preview"]
    assert preview["type"] == "card"
    assert set(fields_declared(stripe.PaymentMethod.Card)) - set(preview["card"]) == {
        # Fields Stripe's own example PaymentMethod leaves out too.
        "description",
        "iin",
        "issuer",
    }
    assert token["payment_intent"] == run[0]["create and confirm with a confirmation token"]["id"]


@pytest.mark.parametrize("kind", ["payment_intent", "charge", "payment_method", "refund"])
def test_stripes_own_example_objects_pass_the_same_check(kind: str) -> None:
    assert problems(example_object(kind), None) == []


def test_every_endpoint_the_api_serves_is_exercised_here(
    run: tuple[dict[str, dict[str, Any]], list[tuple[str, str]]],
) -> None:
    exercised = set()
    for method, path in run[1]:
        found = validation.match(method, path)
        assert found is not None, f"{method} {path} is not an endpoint"
        exercised.add(found[0])
    missing = sorted(f"{e.method} {e.path}" for e in set(api.ROUTES) - exercised)
    assert not missing, f"add these to the conformance run: {missing}"


def missing_keys(obj: Mapping[str, Any], example: Mapping[str, Any], where: str) -> list[str]:
    """Keys of Stripe's example absent from `obj`, at every depth where both hold a hash.

    Metadata is the caller's own; an event's snapshot is held to the example of its own kind.
    Stripe's examples carry some fields expanded (a Charge's refunds) that Stripe sends only
    when asked for: those are left out of the check unless `obj` has them.
    """
    kind = obj.get("object")  # an event's `data` holds its object under that key
    optional = ONLY_WHEN_EXPANDED.get(kind, set()) if isinstance(kind, str) else set()
    found = [f"{where}.{key}" for key in example if key not in obj and key not in optional]
    for key, value in example.items():
        mine = obj.get(key)
        if key == "metadata" or not isinstance(value, dict) or not isinstance(mine, dict):
            continue
        if where.endswith(".data") and key == "object":
            value = example_object(mine["object"])
        if value:
            found += missing_keys(mine, value, f"{where}.{key}")
    return found


def problems(value: Any, annotation: Any, where: str = "") -> list[str]:
    """How `value` differs from what `annotation` (a stripe-python type) allows; [] if not at all.

    `annotation` None means the class named by the value's own `object`.
    """
    if annotation is None:
        annotation = RESOURCES[value["object"]]
        where = where or value["object"]
    origin = typing.get_origin(annotation)
    options = typing.get_args(annotation) if origin in (Union, types.UnionType) else (annotation,)
    options = tuple(resolve(option) for option in options)
    if value is None:
        return [] if type(None) in options else [f"{where}: null, typed {annotation}"]
    literals = [
        arg
        for option in options
        if typing.get_origin(option) is Literal
        for arg in typing.get_args(option)
    ]
    for option in options:
        checked = check(value, option, where, literals)
        if checked is not None:
            return checked
    return [f"{where}: {value!r} is not {annotation}"]


def resolve(option: Any) -> Any:
    """A resource named by a forward reference, as stripe-python means it."""
    if isinstance(option, ForwardRef):
        return getattr(stripe, option.__forward_arg__, Any)
    return option


def check(value: Any, option: Any, where: str, literals: list[Any]) -> list[str] | None:
    """Problems of `value` as an `option` of a union, or None when it is not of that kind."""
    origin = typing.get_origin(option)
    if option is Any:
        return []
    if isinstance(value, bool):
        return [] if option is bool else None
    if isinstance(value, int):
        return [] if option is int else None
    if isinstance(value, str):
        if literals:  # stripe-python's `|str` lets new values through; the sandbox's are known
            return [] if value in literals else [f"{where}: {value!r} not in {literals}"]
        return [] if option is str else None
    if isinstance(value, list):
        if origin is not list:
            return None
        (item,) = typing.get_args(option)
        return [p for i, each in enumerate(value) for p in problems(each, item, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return None
    if origin is dict:
        item = typing.get_args(option)[1]
        return [p for key, each in value.items() for p in problems(each, item, f"{where}.{key}")]
    if origin is not None and isinstance(origin, type) and issubclass(origin, stripe.ListObject):
        (item,) = typing.get_args(option)
        return fields(value, stripe.ListObject, where, item)
    if origin is not None and isinstance(origin, type) and issubclass(origin, stripe.StripeObject):
        # Untyped (metadata, an event's snapshot): the snapshot is checked as its own object.
        (item,) = typing.get_args(option)
        if where.endswith("data.object"):
            return problems(value, None, where)
        return [p for key, each in value.items() for p in problems(each, item, f"{where}.{key}")]
    if isinstance(option, type) and issubclass(option, stripe.StripeObject):
        named = getattr(option, "OBJECT_NAME", None)
        if named is not None and value.get("object") not in (None, named):
            return None  # one of several kinds a field may hold: the one the value names
        return fields(value, option, where, None)
    return None


def fields(value: dict[str, Any], cls: type, where: str, item: Any) -> list[str]:
    """Problems of a hash read as `cls`: keys it lacks, values of the wrong type."""
    annotations = {k: v for k, v in cls.__annotations__.items() if k != "OBJECT_NAME"}
    if cls is stripe.ListObject:
        # A list's `object` is read like every StripeObject's; its items are of one class.
        annotations = {"object": Literal["list"], "data": list[item], "has_more": bool, "url": str}
    found = [
        f"{where}.{key}: no such field in {cls.__qualname__}"
        for key in value
        if key not in annotations
    ]
    for key, each in value.items():
        if key in annotations:
            found += problems(each, annotations[key], f"{where}.{key}")
    return found
