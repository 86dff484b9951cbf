"""The shop's gateway to Stripe: every call run in a sized pool, its errors made the shop's."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import stripe

from bookshop.basket import Basket
from bookshop.config import Settings
from bookshop.payments.errors import (
    IntentLocked,
    InvalidEmail,
    InvalidWebhook,
    PaymentNotFound,
    PaymentsUnavailable,
)
from bookshop.payments.objects import (
    Intent,
    WebhookEvent,
    intent_id_from_secret,
    lines_metadata,
    read_event,
    read_intent,
)
from bookshop.payments.transport import CurlClient

log = logging.getLogger(__name__)
# stripe-python logs whole response bodies (client secrets included) at debug level, and two
# lines per call at info level; the shop logs what matters itself (failures, with request ids).
logging.getLogger("stripe").setLevel(logging.WARNING)

T = TypeVar("T")
INTENT_ID = re.compile(r"^pi_[A-Za-z0-9]{1,64}$")
MAX_DESCRIPTION = 1000


class Payments:
    """The shop's gateway to Stripe: one client, one sized pool, the shop's own outcomes."""

    def __init__(self, settings: Settings) -> None:
        self.currency = settings.currency
        self.publishable_key = settings.stripe_publishable_key
        self.js_url = settings.stripe_js_url
        self.sandbox = settings.sandbox
        self._http = CurlClient(
            settings.stripe_api_base or stripe.DEFAULT_API_BASE, settings.stripe_timeout_seconds
        )
        self._client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
            max_network_retries=settings.stripe_max_retries,
            http_client=self._http,
        )
        # Stripe calls are I/O bound: size the pool for many waiting calls, not for the cores.
        self._pool = ThreadPoolExecutor(
            max_workers=settings.stripe_pool_size, thread_name_prefix="stripe"
        )

    def close(self) -> None:
        """Stop the pool (waiting for calls in flight)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def _request(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        # Stripe's JSON as it came: building StripeObjects from it costs more CPU than the HTTP
        # call itself (docs/performance.md, "Stripe's JSON, not StripeObjects"). Errors raise.
        data: dict[str, Any] = self._client.raw_request(method, path, **params).data
        return data

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a Stripe call in the pool; Stripe's errors become the shop's own."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, partial(function, *args, **kwargs))
        except (stripe.AuthenticationError, stripe.PermissionError) as error:
            # A bad or restricted key: the shopper sees "unavailable"; the shopkeeper must act.
            log.critical(
                "Stripe refused the shop's API key (%s, request %s): check STRIPE_SECRET_KEY",
                type(error).__name__,
                error.request_id,
            )
            raise PaymentsUnavailable from None
        except (
            stripe.APIConnectionError,
            stripe.RateLimitError,
            stripe.APIError,
            # A key met again with other parameters: a bug to log, but for the shopper a retry
            # (the next checkout load asks with a new key).
            stripe.IdempotencyError,
        ) as error:
            log.warning(
                "Stripe unavailable: %s (status %s, request %s)",
                type(error).__name__,
                error.http_status,
                error.request_id,
            )
            raise PaymentsUnavailable from None
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                raise PaymentNotFound from None
            if error.code == "payment_intent_unexpected_state":
                raise IntentLocked from None
            if error.code == "email_invalid" or error.param == "receipt_email":
                raise InvalidEmail from None
            # Anything else is a request the shop should never have sent: a bug, shown as one.
            raise

    async def open_checkout(
        self, basket: Basket, checkout_id: str, intent_id: str | None
    ) -> Intent:
        """The checkout's intent for this basket: reused (updated if the basket changed) until
        the shopper confirms it, then returned as it is (3D Secure under way, processing, paid),
        and replaced when canceled or gone."""
        if intent_id:
            try:
                current: Intent | None = await self._retrieve(intent_id)
            except PaymentNotFound:
                current = None
            if current is not None and current.checkout_id == checkout_id:
                if current.changeable and not (
                    current.amount == basket.total
                    and current.lines_key == basket.key
                    and current.shipping == basket.shipping
                    and current.address == basket.address
                ):
                    return await self._update(current.id, **_priced(basket, clear=True))
                if current.payable or current.status in ("processing", "succeeded"):
                    return current
        priced = _priced(basket, clear=False)
        priced["metadata"]["checkout"] = checkout_id
        digest = hashlib.sha256(json.dumps(priced, sort_keys=True).encode()).hexdigest()[:16]
        return await self._create(
            **priced,
            currency=self.currency,
            automatic_payment_methods={"enabled": True},
            # Derived from the checkout, the intent it replaces and every parameter sent, so a
            # retried request replays the first answer instead of creating a second intent, and
            # a changed basket or address never reuses a key (Stripe refuses other parameters).
            idempotency_key=f"bookshop-{checkout_id}-{intent_id or 'first'}-{digest}",
        )

    async def prepare_payment(self, intent_id: str, basket: Basket, email: str) -> Intent:
        """Just before the browser confirms: price the intent for the basket the page shows and
        set the receipt address, in one update that fails once the intent can't change."""
        return await self._update(intent_id, **_priced(basket, clear=True), receipt_email=email)

    async def intent(self, intent_id: str) -> Intent:
        """The PaymentIntent as Stripe has it now, with its latest charge."""
        return await self._retrieve(intent_id, expand=["latest_charge"])

    async def payment_result(self, intent_id: str, client_secret: str) -> Intent:
        """The shopper's payment, read with the secret key; PaymentNotFound unless the client
        secret is this intent's."""
        if intent_id_from_secret(client_secret) != intent_id:
            raise PaymentNotFound
        intent = await self.intent(intent_id)
        if not hmac.compare_digest(intent.client_secret, client_secret):
            raise PaymentNotFound
        if intent.status == "succeeded" and intent.charge is None:
            raise PaymentsUnavailable  # a succeeded intent always has a charge: transient
        return intent

    async def list_intents(self, since: datetime) -> list[Intent]:
        """Every PaymentIntent created since `since`, newest first (all pages)."""

        def every_page() -> list[Intent]:
            pages = self._client.v1.payment_intents.list(
                params={
                    "created": {"gte": int(since.timestamp())},
                    "limit": 100,
                    "expand": ["data.latest_charge"],
                }
            )
            return [read_intent(intent.to_dict()) for intent in pages.auto_paging_iter()]

        return await self._call(every_page)

    def verify_webhook(self, payload: bytes, signature: str, secret: str) -> WebhookEvent:
        """Check `Stripe-Signature` on the raw body and read the event, or raise InvalidWebhook."""
        try:
            event = self._client.construct_event(payload, signature, secret)
            return read_event(event.to_dict())
        except stripe.SignatureVerificationError:
            raise InvalidWebhook("bad or missing signature") from None
        except (ValueError, TypeError, KeyError, AttributeError):
            # Signed but not an event we can read (bad JSON, wrong shapes): Stripe never sends it.
            raise InvalidWebhook("not a readable Stripe event") from None

    async def _create(self, **params: Any) -> Intent:
        return read_intent(await self._call(self._request, "post", "/v1/payment_intents", **params))

    async def _update(self, intent_id: str, **params: Any) -> Intent:
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        return read_intent(
            await self._call(self._request, "post", _intent_path(intent_id), **params)
        )

    async def _retrieve(self, intent_id: str, expand: list[str] | None = None) -> Intent:
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        params: dict[str, Any] = {"expand": expand} if expand else {}
        return read_intent(
            await self._call(self._request, "get", _intent_path(intent_id), **params)
        )


def _priced(basket: Basket, *, clear: bool) -> dict[str, Any]:
    # What changes with the basket; the amount always comes from the catalog and the shipping
    # rates. On an update every lines_N key is sent ("" deletes one a longer basket left behind).
    metadata = {**lines_metadata(basket.key), "shipping": str(basket.shipping)}
    priced: dict[str, Any] = {
        "amount": basket.total,
        "description": _description(basket),
        "metadata": metadata if clear else {key: value for key, value in metadata.items() if value},
    }
    if basket.address is not None:
        priced["shipping"] = basket.address.to_stripe()
    return priced


def _description(basket: Basket) -> str:
    # Shown in Stripe's dashboard and on its receipt; Stripe allows 1000 characters.
    text = "; ".join(f"{line.quantity} x {line.book.title}" for line in basket.lines)
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _intent_path(intent_id: str) -> str:
    return f"/v1/payment_intents/{quote(intent_id, safe='')}"
