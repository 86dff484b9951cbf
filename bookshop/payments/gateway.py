"""The shop's gateway to Stripe: every call run in a sized pool and timed, its errors made the
shop's."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import quote

import stripe
from quart import current_app

from bookshop import metrics
from bookshop.basket import Basket
from bookshop.config import Settings
from bookshop.money import format_money
from bookshop.payments.errors import (
    IntentLocked,
    InvalidEmail,
    InvalidWebhook,
    PaymentNotFound,
    PaymentsUnavailable,
    RefundRefused,
)
from bookshop.payments.objects import (
    CONFIRMATION_TOKEN,
    MAX_METADATA_VALUE,
    ConfirmationToken,
    Intent,
    WebhookEvent,
    intent_id_from_secret,
    lines_metadata,
    read_confirmation_token,
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
MAX_IDEMPOTENCY_KEY = 255  # Stripe's limit for an Idempotency-Key
DASHBOARD = "https://dashboard.stripe.com"


class Payments:
    """The shop's gateway to Stripe: one client, one sized pool, the shop's own outcomes."""

    def __init__(self, settings: Settings) -> None:
        self.currency = settings.currency
        self.publishable_key = settings.stripe_publishable_key
        self.js_url = settings.stripe_js_url
        self.sandbox = settings.sandbox
        self._live = settings.live
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

    async def _call(
        self, function: Callable[..., T], /, *args: Any, kind: str | None = None, **kwargs: Any
    ) -> T:
        """Run a Stripe call in the pool, timed as `kind` (a raw request's is read from its
        method and path); Stripe's errors become the shop's own, counted first as Stripe's."""
        if kind is None:
            kind = _kind(args[0], args[1])
        loop = asyncio.get_running_loop()
        try:
            with metrics.stripe_call(kind):
                return await loop.run_in_executor(self._pool, partial(function, *args, **kwargs))
        except stripe.CardError as error:
            # A decline is an answer, not a failure: the intent as the decline left it.
            body = cast(dict[str, Any], error.json_body or {})
            declined = body.get("error", {}).get("payment_intent")
            if isinstance(declined, dict) and declined.get("id"):
                raise Declined(read_intent(declined)) from None
            raise
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
        ) as error:
            log.warning(
                "Stripe unavailable: %s (status %s, request %s)",
                type(error).__name__,
                error.http_status,
                error.request_id,
            )
            raise PaymentsUnavailable from None
        except stripe.IdempotencyError as error:
            # A key met again with other parameters: a bug to log, but for the shopper a retry
            # (the next Pay comes with a new token, so a new key).
            log.warning(
                "Stripe refused a key used before for other parameters (request %s)",
                error.request_id,
            )
            raise KeyReused from None
        except stripe.InvalidRequestError as error:
            if error.http_status == 404 or error.param == "confirmation_token":
                # Unknown, or a token spent or expired since the shop read it.
                raise PaymentNotFound from None
            if error.code == "payment_intent_unexpected_state":
                raise IntentLocked from None
            if error.code == "email_invalid" or error.param == "receipt_email":
                raise InvalidEmail from None
            # Anything else is a request the shop should never have sent: a bug, shown as one.
            raise

    async def confirmation_token(self, token_id: str) -> ConfirmationToken:
        """A ConfirmationToken the shopper's browser made; PaymentNotFound for an unknown one."""
        if not CONFIRMATION_TOKEN.match(token_id):
            raise PaymentNotFound
        return read_confirmation_token(
            await self._call(self._request, "get", _token_path(token_id))
        )

    async def pay(
        self,
        basket: Basket,
        checkout_id: str,
        token_id: str,
        email: str,
        return_url: str,
        current: Intent | None,
    ) -> Intent:
        """Charge the basket with the shopper's ConfirmationToken: the checkout's first payment
        creates its intent and confirms it in one call; a retry (after a decline) reprices the
        same intent only if the order changed, then confirms it. The intent comes back as the
        confirmation left it: paid, declined, processing, or waiting for 3D Secure."""
        confirm: dict[str, Any] = {
            "confirmation_token": token_id,
            "receipt_email": email,
            "return_url": return_url,
            "expand": ["latest_charge"],
            # One attempt a token (a token is single use): a retried request replays its answer
            # and never charges twice.
            "idempotency_key": f"bookshop-pay-{checkout_id}-{token_id}",
        }
        try:
            if current is None:
                priced = _priced(basket, clear=False)
                priced["metadata"]["checkout"] = checkout_id
                return await self._create(
                    **priced,
                    currency=self.currency,
                    automatic_payment_methods={"enabled": True},
                    confirm=True,
                    **confirm,
                )
            if current.changeable and not _charges(current, basket):
                await self._update(
                    current.id,
                    **_priced(basket, clear=True),
                    idempotency_key=f"bookshop-reprice-{checkout_id}-{token_id}",
                )
            return await self._confirm(current.id, **confirm)
        except Declined as declined:
            return declined.intent

    async def intent(self, intent_id: str) -> Intent:
        """The PaymentIntent as Stripe has it now, with its latest charge and that charge's
        refunds (Stripe sends a charge's refunds only when asked to expand them)."""
        return await self._retrieve(intent_id, expand=["latest_charge.refunds"])

    async def cancel(self, intent_id: str) -> Intent:
        """Cancel a payment not yet made, so no later authentication can charge it; the intent
        as Stripe has it after (canceled, or paid already when the cancel came too late)."""
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        params = {
            "cancellation_reason": "abandoned",
            "idempotency_key": f"bookshop-cancel-{intent_id}",
        }
        # Refused when it succeeded, is processing or was canceled already: the read says which.
        with suppress(IntentLocked):
            await self._call(self._request, "post", _intent_path(intent_id, "/cancel"), **params)
        return await self.intent(intent_id)

    async def refund(
        self, intent_id: str, reason: str, *, amount: int | None = None, key: str | None = None
    ) -> Intent:
        """Refund `amount` of a payment (None: all that is left to refund), once whatever the
        retries; the intent as Stripe has it after, its charge with its refunds.

        `key` is the refund's idempotency key: the same key again refunds nothing more (Stripe
        replays the first answer), so a caller that means two refunds passes two keys. Without
        one the key names the intent, the reason and, for part of a payment, the amount. The
        reason rides in the refund's metadata. RefundRefused when Stripe refuses it (more than
        is left, refunded in full already, never paid, the key used for another refund)."""
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        if amount is not None and (isinstance(amount, bool) or amount < 1):
            raise RefundRefused("A refund must be a positive amount.", "invalid_amount")
        if len(reason) > MAX_METADATA_VALUE:
            raise RefundRefused(
                f"The reason is too long: Stripe keeps at most {MAX_METADATA_VALUE} characters.",
                "invalid_reason",
            )
        if key is None:
            key = _refund_key(intent_id, reason, amount)
        elif not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable()):
            raise ValueError(
                f"an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
            )
        params: dict[str, Any] = {
            "payment_intent": intent_id,
            "metadata": {"reason": reason},
            "idempotency_key": key,
        }
        if amount is not None:
            params["amount"] = amount
        try:
            await self._call(self._request, "post", "/v1/refunds", **params)
        except KeyReused:
            raise RefundRefused(
                "This refund was already asked for with another amount or reason: nothing more "
                "was refunded. Reload the order to see what was.",
                "key_reused",
            ) from None
        except stripe.InvalidRequestError as error:
            raise await self._refund_refused(intent_id, error, amount) from None
        return await self.intent(intent_id)

    async def _refund_refused(
        self, intent_id: str, error: stripe.InvalidRequestError, amount: int | None
    ) -> Exception:
        # Stripe's refusal of a refund in the shopkeeper's words, chosen by its code.
        code = error.code or ""
        if code == "resource_missing":
            return PaymentNotFound()
        if code == "charge_already_refunded":
            return RefundRefused(
                "This payment has been refunded in full already.", "already_refunded"
            )
        if code == "charge_disputed":
            return RefundRefused(
                "The customer's bank has disputed this payment: answer the dispute in Stripe's "
                "dashboard instead of refunding.",
                "disputed",
            )
        if code == "amount_too_large" or error.param == "amount":
            return RefundRefused(await self._too_much(intent_id, amount), "amount_too_large")
        if code == "charge_not_refundable" or error.param in ("payment_intent", "charge"):
            return RefundRefused(
                "This payment was never completed, so there is nothing to refund.", "not_paid"
            )
        # A refusal the shop does not know: logged for a developer, reported as refused.
        log.error(
            "Stripe refused a refund of %s: %s (code %s, param %s, request %s)",
            intent_id,
            type(error).__name__,
            error.code,
            error.param,
            error.request_id,
        )
        return RefundRefused("Stripe refused this refund; nothing was refunded.", "refused")

    async def _too_much(self, intent_id: str, amount: int | None) -> str:
        # What is left to refund, read again: another refund may have come in meanwhile.
        try:
            charge = (await self.intent(intent_id)).charge
        except (PaymentsUnavailable, PaymentNotFound):
            charge = None
        if charge is None or amount is None:
            return "The refund is more than is left to refund on this payment."
        left = charge.amount - charge.amount_refunded
        return (
            f"Only {format_money(left, charge.currency)} of this payment is left to refund: "
            f"{format_money(amount, charge.currency)} is more than that."
        )

    def dashboard_url(self, intent_id: str) -> str | None:
        """Where staff see the payment in Stripe's dashboard (test or live, as the key is);
        None with the local sandbox, which has no such page."""
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        if self.sandbox:
            return None
        mode = "" if self._live else "test/"
        return f"{DASHBOARD}/{mode}payments/{quote(intent_id, safe='')}"

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

    async def checkout_intent(self, checkout_id: str, since: datetime) -> Intent | None:
        """The newest intent made for a checkout since `since`: how the shop finds a payment
        whose answer it never got (a timeout after Stripe had created and charged it)."""
        found = [
            intent for intent in await self.list_intents(since) if intent.checkout_id == checkout_id
        ]
        return found[0] if found else None

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

        return await self._call(every_page, kind="payment_intents.list")

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

    async def _confirm(self, intent_id: str, **params: Any) -> Intent:
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        return read_intent(
            await self._call(self._request, "post", _intent_path(intent_id, "/confirm"), **params)
        )

    async def _retrieve(self, intent_id: str, expand: list[str] | None = None) -> Intent:
        if not INTENT_ID.match(intent_id):
            raise PaymentNotFound
        params: dict[str, Any] = {"expand": expand} if expand else {}
        return read_intent(
            await self._call(self._request, "get", _intent_path(intent_id), **params)
        )


class KeyReused(PaymentsUnavailable):
    """An idempotency key met again with other parameters: unavailable to the shopper (the next
    Pay has a new key); a refund says it was refused."""


class Declined(Exception):
    """Stripe declined the card; `intent` is the intent as the decline left it."""

    def __init__(self, intent: Intent) -> None:
        super().__init__(intent.id)
        self.intent = intent


def _charges(intent: Intent, basket: Basket) -> bool:
    # Whether the intent already charges exactly this basket, delivered where it says.
    return (
        intent.amount == basket.total
        and intent.lines_key == basket.key
        and intent.shipping == basket.shipping
        and intent.address == basket.address
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


def _refund_key(intent_id: str, reason: str, amount: int | None) -> str:
    # Once per intent and reason (and amount, for part of a payment): a full refund's key is the
    # one the stock keeper has always sent. A reason that would not fit in the header (Stripe
    # takes keys of at most 255 characters; a header, printable ASCII) is named by its digest.
    named = reason.replace(" ", "-")
    suffix = "" if amount is None else f"-{amount}"
    key = f"bookshop-refund-{intent_id}-{named}{suffix}"
    if len(key) > MAX_IDEMPOTENCY_KEY or not (named.isascii() and named.isprintable()):
        digest = hashlib.sha256(reason.encode()).hexdigest()
        key = f"bookshop-refund-{intent_id}-{digest}{suffix}"
    return key


def _kind(method: str, path: str) -> str:
    # Stripe's name for a call, as its API reference has it ("payment_intents.confirm"), never
    # with an id: a metric label the shop's own calls bound.
    resource, *rest = path.removeprefix("/v1/").split("/")
    if not rest:
        action = "list" if method == "get" else "create"
    elif len(rest) == 1:
        action = {"get": "retrieve", "delete": "delete"}.get(method, "update")
    else:
        action = rest[1]  # /v1/payment_intents/pi_.../confirm
    return f"{resource}.{action}"


def _token_path(token_id: str) -> str:
    return f"/v1/confirmation_tokens/{quote(token_id, safe='')}"


def _intent_path(intent_id: str, action: str = "") -> str:
    return f"/v1/payment_intents/{quote(intent_id, safe='')}{action}"


def payments() -> Payments:
    """The app's Stripe gateway."""
    return cast(Payments, current_app.extensions["payments"])
