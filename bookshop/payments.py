"""Stripe, behind the shop's own types: the only module that imports `stripe`.

Every call runs in a dedicated thread pool so the event loop never waits on Stripe, and every Stripe
error becomes one of a few outcomes the views know how to show.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote, urlsplit

import pycurl
import stripe

from bookshop.catalog import Book
from bookshop.config import Settings

log = logging.getLogger(__name__)
# stripe-python logs whole response bodies (client secrets included) at debug level, and two
# lines per call at info level; the shop logs what matters itself (failures, with request ids).
logging.getLogger("stripe").setLevel(logging.WARNING)

T = TypeVar("T")
Outcome = Literal["succeeded", "declined", "needs_action", "processing", "open", "canceled"]

CONNECT_TIMEOUT_MS = 5000

INTENT_ID = re.compile(r"^pi_[A-Za-z0-9]{1,64}$")
CLIENT_SECRET = re.compile(r"^(pi_[A-Za-z0-9]{1,64})_secret_[A-Za-z0-9]{1,128}$")
PAYABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})

# What the shopper reads for each decline, chosen by code/decline_code, never by Stripe's message.
DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds. Try another card.",
    "expired_card": "Your card has expired. Check the expiry date or try another card.",
    "incorrect_cvc": "The security code (CVC) is incorrect. Check it and try again.",
    "processing_error": (
        "An error occurred while processing your card. Try again in a moment, or use another card."
    ),
    "payment_intent_authentication_failure": (
        "We couldn't verify the payment with your bank. Try again, or use another card."
    ),
}
GENERIC_DECLINE = "Your card was declined. Try another card, or contact your bank."


class PaymentsUnavailable(Exception):
    """Stripe (or the sandbox) could not be reached or failed; nothing was charged by this call."""


class PaymentNotFound(Exception):
    """No such payment for this shopper: Stripe answered 404, or the client secret is wrong."""


class IntentLocked(Exception):
    """The intent can no longer change (it is paid, processing or canceled)."""


class InvalidEmail(Exception):
    """Stripe refused the receipt address."""


class InvalidWebhook(Exception):
    """A webhook body that is not signed with the endpoint secret, or is not a Stripe event."""


@dataclass(frozen=True)
class Charge:
    """A PaymentIntent's latest charge: what the receipt shows and the ledger keeps."""

    id: str
    amount: int
    currency: str
    amount_refunded: int
    refunded: bool
    card_brand: str
    card_last4: str
    email: str | None
    receipt_url: str | None


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent as the shop reads it, from an answer, an event or a list alike."""

    id: str
    status: str
    amount: int
    currency: str
    created: int
    client_secret: str  # "" where Stripe leaves it out
    book_id: str  # "" when the intent is not one of the shop's checkouts
    quantity: int  # 0 when its metadata does not say
    email: str | None
    # The last failed attempt's most specific code: decline_code, else code.
    decline_code: str | None
    charge_id: str | None
    charge: Charge | None = None  # only when `latest_charge` came expanded

    @property
    def payable(self) -> bool:
        """True while the shopper can still pay (or retry) on this intent."""
        return self.status in PAYABLE

    @property
    def outcome(self) -> Outcome:
        """Where the payment stands, in the shop's words."""
        if self.status in ("succeeded", "processing", "canceled"):
            return cast(Outcome, self.status)
        if self.status == "requires_action":
            return "needs_action"
        return "declined" if self.decline_code else "open"


@dataclass(frozen=True)
class WebhookEvent:
    """A verified Stripe event, reduced to what the ledger acts on."""

    id: str
    type: str
    created: int
    intent_id: str | None
    intent: Intent | None = None
    charge_id: str | None = None
    amount_refunded: int = 0
    refunded: bool = False


def read_intent(data: Mapping[str, Any]) -> Intent:
    """The one reading of a PaymentIntent's JSON (a response, an event's object, a list item)."""
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    quantity = str(metadata.get("quantity") or "")
    error = data.get("last_payment_error")
    if not isinstance(error, Mapping):
        error = {}
    latest = data.get("latest_charge")
    charge = _read_charge(latest) if isinstance(latest, Mapping) else None
    return Intent(
        id=str(data["id"]),
        status=str(data["status"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        created=int(data.get("created") or 0),
        client_secret=str(data.get("client_secret") or ""),
        book_id=str(metadata.get("book") or ""),
        quantity=int(quantity) if quantity.isdigit() else 0,
        email=data.get("receipt_email") or (charge.email if charge else None),
        decline_code=error.get("decline_code") or error.get("code") or None,
        charge_id=charge.id if charge else (str(latest) if latest else None),
        charge=charge,
    )


def _read_charge(data: Mapping[str, Any]) -> Charge:
    details = data.get("payment_method_details")
    card = details.get("card") if isinstance(details, Mapping) else None
    if not isinstance(card, Mapping):
        card = {}
    return Charge(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        amount_refunded=int(data.get("amount_refunded") or 0),
        refunded=bool(data.get("refunded")),
        card_brand=str(card.get("brand") or "card"),
        card_last4=str(card.get("last4") or ""),
        email=data.get("receipt_email") or None,
        receipt_url=data.get("receipt_url") or None,
    )


def decline_message(code: str | None) -> str:
    """A kind message for a decline; lost, stolen, fraudulent and the rest get a generic one."""
    return DECLINE_MESSAGES.get(code or "", GENERIC_DECLINE)


def intent_id_from_secret(client_secret: str) -> str | None:
    """The PaymentIntent id a client secret belongs to, or None when it is malformed."""
    match = CLIENT_SECRET.match(client_secret)
    return match.group(1) if match else None


# libcurl's failures that a retry cannot mend: TLS and certificate problems.
TLS_FAILURES = frozenset(
    getattr(pycurl, name)
    for name in (
        "E_SSL_CONNECT_ERROR",
        "E_PEER_FAILED_VERIFICATION",
        "E_SSL_CERTPROBLEM",
        "E_SSL_CACERT_BADFILE",
        "E_SSL_CIPHER",
        "E_SSL_ISSUER_ERROR",
        "E_SSL_CRL_BADFILE",
        "E_SSL_PINNEDPUBKEYNOTMATCH",
        "E_SSL_INVALIDCERTSTATUS",
        "E_USE_SSL_FAILED",
    )
)


class CurlClient(stripe.HTTPClient):
    """stripe-python's HTTP transport on libcurl (pycurl): one handle per pool thread.

    A call through urllib3 and `http.client` cost ~0.7 ms of CPU, nearly all of it Python building
    the request and parsing the answer's headers while holding the GIL; libcurl does the same in C
    for ~0.2 ms, with the GIL released. Each thread keeps its own handle (a handle is not
    thread-safe), and with it its kept-alive connection. Stripe's client keeps doing the rest:
    headers, idempotency keys, retries (`should_retry` below) and its errors. Streamed responses,
    which the shop never reads, stay unimplemented as in stripe-python's base class.
    """

    name = "pycurl"

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__()
        # The shop talks to one host: its proxy (honouring NO_PROXY) is read once, at start-up;
        # changes to HTTP(S)_PROXY after that are not seen, and libcurl's own reading of them is
        # turned off ("" = no proxy).
        host = urlsplit(api_base).hostname or ""
        self._proxy_url = "" if urllib.request.proxy_bypass(host) else _proxy_for(api_base) or ""
        self._timeout_ms = int(timeout * 1000)
        self._local = threading.local()
        self._handles: list[pycurl.Curl] = []
        self._handles_lock = threading.Lock()

    def _handle(self) -> pycurl.Curl:
        curl: pycurl.Curl | None = getattr(self._local, "curl", None)
        if curl is None:
            curl = self._local.curl = pycurl.Curl()
            with self._handles_lock:
                self._handles.append(curl)
        return curl

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        curl = self._handle()
        curl.reset()  # options only: the handle keeps its connection
        body = io.BytesIO()
        header_lines: list[bytes] = []
        if method == "get":
            curl.setopt(pycurl.HTTPGET, 1)
        elif method == "post":
            curl.setopt(pycurl.POSTFIELDS, post_data or "")
        else:
            curl.setopt(pycurl.CUSTOMREQUEST, method.upper())
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.PROXY, self._proxy_url)
        curl.setopt(
            pycurl.HTTPHEADER, [f"{name}: {value}" for name, value in (headers or {}).items()]
        )
        curl.setopt(pycurl.WRITEDATA, body)
        curl.setopt(pycurl.HEADERFUNCTION, header_lines.append)
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, min(CONNECT_TIMEOUT_MS, self._timeout_ms))
        curl.setopt(pycurl.TIMEOUT_MS, self._timeout_ms)
        curl.setopt(pycurl.CAINFO, stripe.ca_bundle_path)
        try:
            curl.perform()
        except pycurl.error as error:
            code = error.args[0]
            if code in TLS_FAILURES:
                raise _connection_error(
                    f"Could not make a verified TLS connection to Stripe (curl error {code})",
                    retry=False,
                ) from None
            # Timeouts, refused or dropped connections: stripe-python retries these (when
            # max_network_retries allows) with the same idempotency key.
            raise _connection_error(
                f"Could not reach Stripe (curl error {code})", retry=True
            ) from None
        status: int = curl.getinfo(pycurl.RESPONSE_CODE)
        return body.getvalue().decode("utf-8"), status, _response_headers(header_lines)

    def close(self) -> None:
        with self._handles_lock:
            for curl in self._handles:
                curl.close()
            self._handles.clear()


def _response_headers(lines: list[bytes]) -> dict[str, str]:
    """The last response's headers (a proxy's CONNECT answer comes first), names lower-cased."""
    headers: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("latin-1")
        if line.startswith("HTTP/"):
            headers.clear()
            continue
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _connection_error(message: str, retry: bool) -> stripe.APIConnectionError:
    error: stripe.APIConnectionError = stripe.APIConnectionError(  # type: ignore[no-untyped-call]
        message, should_retry=retry
    )
    return error


def _proxy_for(url: str) -> str | None:
    scheme = urlsplit(url).scheme or "https"
    proxies = urllib.request.getproxies()
    return proxies.get(scheme) or proxies.get("all")


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
        # The intent as Stripe's JSON: building StripeObjects from it cost more CPU than the HTTP
        # call itself (~2.5 ms of ~5 for an intent with its charge). Errors raise as usual.
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
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
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
        self, book: Book, quantity: int, checkout_id: str, intent_id: str | None
    ) -> Intent:
        """The checkout's intent at this quantity: reused while payable, updated, or replaced."""
        if intent_id:
            try:
                current: Intent | None = await self._retrieve(intent_id)
            except PaymentNotFound:
                current = None
            if current is not None and current.book_id == book.id:
                if current.payable:
                    if current.amount == book.price * quantity and current.quantity == quantity:
                        return current
                    return await self._update(current.id, **_priced(book, quantity))
                if current.status == "processing":
                    if current.quantity != quantity:
                        raise IntentLocked
                    return current
        return await self._create(
            amount=book.price * quantity,
            currency=self.currency,
            automatic_payment_methods={"enabled": True},
            description=_description(book, quantity),
            metadata={"book": book.id, "quantity": str(quantity), "checkout": checkout_id},
            # Derived from the checkout (and the intent it replaces), so a retried request replays
            # the first answer instead of creating a second intent.
            idempotency_key=f"bookshop-{checkout_id}-{intent_id or 'first'}-{quantity}",
        )

    async def prepare_payment(
        self, intent_id: str, book: Book, quantity: int, email: str
    ) -> Intent:
        """Just before the browser confirms: price the intent for the page's quantity and set the
        receipt address, in one update that fails once the intent can't change."""
        return await self._update(intent_id, **_priced(book, quantity), receipt_email=email)

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
            return _webhook_event(event.to_dict())
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


def _priced(book: Book, quantity: int) -> dict[str, Any]:
    # What changes with the quantity; the amount always comes from the catalog.
    return {
        "amount": book.price * quantity,
        "description": _description(book, quantity),
        "metadata": {"quantity": str(quantity)},
    }


def _description(book: Book, quantity: int) -> str:
    return f"{book.title} (quantity {quantity})"


def _intent_path(intent_id: str) -> str:
    return f"/v1/payment_intents/{quote(intent_id, safe='')}"


def _webhook_event(data: Mapping[str, Any]) -> WebhookEvent:
    obj = data["data"]["object"]
    event = partial(WebhookEvent, str(data["id"]), str(data["type"]), int(data["created"]))
    if obj.get("object") == "payment_intent":
        intent = read_intent(obj)
        return event(intent_id=intent.id, intent=intent, charge_id=intent.charge_id)
    if obj.get("object") == "charge":
        return event(
            intent_id=obj.get("payment_intent") or None,
            charge_id=str(obj["id"]),
            amount_refunded=int(obj.get("amount_refunded") or 0),
            refunded=bool(obj.get("refunded")),
        )
    return event(intent_id=None)
