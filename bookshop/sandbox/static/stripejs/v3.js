/*
 * The sandbox's stand-in for Stripe.js v3: the small subset the bookshop uses (Payment Element with
 * cards, confirmPayment, retrievePaymentIntent), speaking to the local sandbox API instead of Stripe.
 *
 * As with the real thing, card data never enters the host page: the fields live in an iframe served
 * by the sandbox origin, which also performs the confirm request. This script only sees the result.
 * No eval, no inline styles in markup and no injected <style> tags, so it runs under a strict CSP.
 */
(() => {
  "use strict";

  if (window.Stripe && window.Stripe.__sandbox) {
    return; // Loaded twice (e.g. an htmx swap re-adding the tag): keep the first instance.
  }

  // document.currentScript is only set while this file first runs, so read the origin now.
  const SCRIPT = document.currentScript;
  const SANDBOX_ORIGIN = SCRIPT && SCRIPT.src ? new URL(SCRIPT.src).origin : window.location.origin;
  const FRAME_TITLE = "Secure payment input frame";
  const MESSAGE_PREFIX = "stripe-sandbox:";
  // Long enough for a slow sandbox with injected latency, short enough that a lost frame never
  // leaves the shop's busy spinner turning for ever.
  const CONFIRM_TIMEOUT_MS = 60000;
  const FETCH_TIMEOUT_MS = 30000;

  // Stripe.js replaces some API messages with its own shopper-facing wording.
  const DECLINE_MESSAGES = {
    generic_decline: "Your card was declined.",
    insufficient_funds: "Your card has insufficient funds.",
    lost_card: "Your card has been declined.",
    stolen_card: "Your card has been declined.",
    fraudulent: "Your card has been declined.",
    do_not_honor: "Your card has been declined.",
    pickup_card: "Your card has been declined.",
  };
  const CODE_MESSAGES = {
    card_declined: "Your card was declined.",
    expired_card: "Your card has expired.",
    incorrect_cvc: "Your card's security code is incorrect.",
    processing_error: "An error occurred while processing your card. Try again in a little bit.",
    incorrect_number: "Your card number is incorrect.",
    payment_intent_authentication_failure:
      "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
  };

  class IntegrationError extends Error {
    constructor(message) {
      super(message);
      this.name = "IntegrationError";
    }
  }

  // A message from `iframe` (served by the sandbox), decoded; null for anything else.
  function readMessage(event, iframe) {
    if (event.origin !== SANDBOX_ORIGIN || event.source !== iframe.contentWindow) {
      return null;
    }
    if (typeof event.data !== "string" || !event.data.startsWith(MESSAGE_PREFIX)) {
      return null;
    }
    try {
      return JSON.parse(event.data.slice(MESSAGE_PREFIX.length));
    } catch (_) {
      return null;
    }
  }

  function intentIdFromSecret(clientSecret) {
    const match = /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(String(clientSecret || ""));
    if (!match) {
      throw new IntegrationError(
        "Invalid value for clientSecret: it should be a PaymentIntent client secret of the form " +
          "${id}_secret_${secret}."
      );
    }
    return match[1];
  }

  function stripeJsMessage(error) {
    if (error.decline_code && DECLINE_MESSAGES[error.decline_code]) {
      return DECLINE_MESSAGES[error.decline_code];
    }
    return CODE_MESSAGES[error.code] || error.message || "An unexpected error occurred.";
  }

  // Shapes an API error (response body or last_payment_error) the way Stripe.js resolves it.
  function clientError(apiError, paymentIntent) {
    const error = Object.assign({}, apiError);
    if (error.type === "card_error" || error.code === "payment_intent_authentication_failure") {
      error.message = stripeJsMessage(error);
    }
    if (paymentIntent) {
      error.payment_intent = paymentIntent;
    }
    return error;
  }

  // Turns a fetch outcome into {paymentIntent} or {error}; never throws.
  function intentResult(outcome) {
    if (outcome.networkError) {
      return {
        error: {
          type: "api_connection_error",
          message: "We could not connect to the payment server. Check your connection and try again.",
        },
      };
    }
    const body = outcome.body;
    if (outcome.status >= 200 && outcome.status < 300 && body && body.object === "payment_intent") {
      return { paymentIntent: body };
    }
    if (body && body.error) {
      return { error: clientError(body.error, body.error.payment_intent) };
    }
    return {
      error: {
        type: "api_error",
        message: `The payment server answered with an unexpected response (HTTP ${outcome.status}).`,
      },
    };
  }

  // fetch that reports network failures, timeouts and non-JSON bodies as data, not exceptions.
  async function fetchJson(url, init) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(url, Object.assign({ signal: controller.signal }, init));
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      return { status: response.status, body };
    } catch (_) {
      return { networkError: true };
    } finally {
      clearTimeout(timer);
    }
  }

  function resolveTarget(selectorOrElement) {
    const target =
      typeof selectorOrElement === "string"
        ? document.querySelector(selectorOrElement)
        : selectorOrElement;
    if (!(target instanceof HTMLElement)) {
      throw new IntegrationError(
        "The selector you specified (" + String(selectorOrElement) + ") applies to no DOM elements " +
          "that are currently on the page. Make sure the element exists before calling mount()."
      );
    }
    return target;
  }

  function returnUrlWith(returnUrl, paymentIntent) {
    const url = new URL(returnUrl, window.location.href);
    url.searchParams.set("payment_intent", paymentIntent.id);
    url.searchParams.set("payment_intent_client_secret", paymentIntent.client_secret);
    const status = paymentIntent.status;
    let redirectStatus = "failed";
    if (status === "succeeded" || status === "requires_capture") {
      redirectStatus = "succeeded";
    } else if (status === "processing") {
      redirectStatus = "processing";
    }
    url.searchParams.set("redirect_status", redirectStatus);
    return url.href;
  }

  // The Payment Element: a host-page wrapper around the sandbox's card-fields iframe.
  class PaymentElement {
    constructor(group, options) {
      this._group = group;
      this._options = Object.assign({}, options);
      this._handlers = new Map();
      this._requests = new Map();
      this._nextRequest = 1;
      this._iframe = null;
      this._wrapper = null;
      this._frameReady = false;
      this._readyWaiters = [];
      this._destroyed = false;
      this._onMessage = this._onMessage.bind(this);
    }

    mount(selectorOrElement) {
      if (this._destroyed) {
        throw new IntegrationError("This Element has already been destroyed. Please create a new one.");
      }
      if (this._wrapper) {
        throw new IntegrationError("This Element is already mounted. Use unmount() first.");
      }
      const target = resolveTarget(selectorOrElement);
      const wrapper = document.createElement("div");
      wrapper.className = "__SandboxStripeElement";
      wrapper.style.margin = "0";
      wrapper.style.padding = "0";
      wrapper.style.width = "100%";

      const iframe = document.createElement("iframe");
      const src = new URL("/elements/payment-frame", SANDBOX_ORIGIN);
      // The frame only talks to (and accepts messages from) this origin.
      src.searchParams.set("origin", window.location.origin);
      iframe.src = src.href;
      iframe.title = FRAME_TITLE;
      iframe.name = "__sandboxStripeFrame" + Math.random().toString(36).slice(2);
      iframe.setAttribute("frameborder", "0");
      iframe.setAttribute("scrolling", "no");
      iframe.setAttribute("allowtransparency", "true");
      iframe.style.border = "0";
      iframe.style.width = "100%";
      iframe.style.minWidth = "100%";
      iframe.style.display = "block";
      iframe.style.overflow = "hidden";
      iframe.style.height = "260px"; // Replaced by the frame's own measurement once it loads.
      iframe.style.colorScheme = "normal";

      wrapper.appendChild(iframe);
      target.appendChild(wrapper);
      this._wrapper = wrapper;
      this._iframe = iframe;
      this._frameReady = false;
      window.addEventListener("message", this._onMessage);
      return this;
    }

    unmount() {
      window.removeEventListener("message", this._onMessage);
      if (this._wrapper) {
        this._wrapper.remove();
      }
      this._wrapper = null;
      this._iframe = null;
      this._frameReady = false;
      // Anything still waiting on the removed frame will never hear back.
      for (const [, pending] of this._requests) {
        pending.resolve({ lost: true });
      }
      this._requests.clear();
      for (const resolve of this._readyWaiters.splice(0)) {
        resolve(false);
      }
      return this;
    }

    destroy() {
      this.unmount();
      this._destroyed = true;
      this._group._forget(this);
      this._handlers.clear();
    }

    on(event, handler) {
      if (!this._handlers.has(event)) {
        this._handlers.set(event, new Set());
      }
      this._handlers.get(event).add(handler);
      return this;
    }

    once(event, handler) {
      const wrapped = (payload) => {
        this.off(event, wrapped);
        handler(payload);
      };
      return this.on(event, wrapped);
    }

    off(event, handler) {
      const handlers = this._handlers.get(event);
      if (handlers) {
        if (handler) {
          handlers.delete(handler);
        } else {
          handlers.clear();
        }
      }
      return this;
    }

    update(options) {
      Object.assign(this._options, options);
      this._send({ type: "update", options: this._options });
      return this;
    }

    focus() {
      this._send({ type: "focus" });
      return this;
    }

    blur() {
      this._send({ type: "blur" });
      return this;
    }

    clear() {
      this._send({ type: "clear" });
      return this;
    }

    collapse() {
      return this; // The sandbox shows only cards, which never collapse.
    }

    _emit(event, payload) {
      const handlers = this._handlers.get(event);
      if (!handlers) {
        return;
      }
      for (const handler of Array.from(handlers)) {
        try {
          handler(payload);
        } catch (err) {
          // A shop handler's bug must not stop the element; surface it like an uncaught error.
          setTimeout(() => {
            throw err;
          });
        }
      }
    }

    _send(message) {
      if (this._iframe && this._frameReady && this._iframe.contentWindow) {
        this._iframe.contentWindow.postMessage(MESSAGE_PREFIX + JSON.stringify(message), SANDBOX_ORIGIN);
        return true;
      }
      return false;
    }

    _whenReady() {
      if (this._frameReady) {
        return Promise.resolve(true);
      }
      if (!this._iframe) {
        return Promise.resolve(false);
      }
      return new Promise((resolve) => this._readyWaiters.push(resolve));
    }

    // Sends a request to the frame and resolves with its reply ({lost: true} if it never comes).
    async _request(message, timeoutMs) {
      if (!(await this._whenReady())) {
        return { lost: true };
      }
      const id = this._nextRequest++;
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          this._requests.delete(id);
          resolve({ lost: true });
        }, timeoutMs);
        this._requests.set(id, {
          resolve: (reply) => {
            clearTimeout(timer);
            resolve(reply);
          },
        });
        this._send(Object.assign({}, message, { requestId: id }));
      });
    }

    _onMessage(event) {
      // Only the frame this element created, served by the sandbox, may talk to it.
      const message = this._iframe && readMessage(event, this._iframe);
      if (!message) {
        return;
      }
      switch (message.type) {
        case "loaded":
          this._frameReady = true;
          this._send({
            type: "init",
            publishableKey: this._group._stripe._key,
            clientSecret: this._group._clientSecret,
            appearance: this._group._appearance,
            options: this._options,
          });
          break;
        case "ready":
          for (const resolve of this._readyWaiters.splice(0)) {
            resolve(true);
          }
          this._emit("ready", { elementType: "payment" });
          break;
        case "resize":
          if (this._iframe && Number.isFinite(message.height)) {
            this._iframe.style.height = Math.ceil(message.height) + "px";
          }
          break;
        case "change":
          this._emit("change", {
            elementType: "payment",
            complete: Boolean(message.complete),
            empty: Boolean(message.empty),
            collapsed: false,
            value: { type: "card" },
          });
          break;
        case "focus":
        case "blur":
          this._emit(message.type, { elementType: "payment" });
          break;
        case "reply": {
          const pending = this._requests.get(message.requestId);
          if (pending) {
            this._requests.delete(message.requestId);
            pending.resolve(message);
          }
          break;
        }
        default:
          break;
      }
    }
  }

  // The Elements group created by stripe.elements({clientSecret}).
  class Elements {
    constructor(stripe, options) {
      this._stripe = stripe;
      this._clientSecret = options.clientSecret;
      this._appearance = options.appearance || {};
      this._payment = null;
      this._pendingSubmit = null;
      this.amount = null;
      this.currency = null;
    }

    create(type, options) {
      if (type !== "payment") {
        throw new IntegrationError(
          `The sandbox's Stripe.js only supports the "payment" Element, not "${type}".`
        );
      }
      if (this._payment) {
        throw new IntegrationError("Can only create one Element of type payment.");
      }
      this._payment = new PaymentElement(this, options || {});
      return this._payment;
    }

    getElement(type) {
      return type === "payment" ? this._payment : null;
    }

    update(options) {
      if (options && options.appearance) {
        this._appearance = options.appearance;
        if (this._payment) {
          this._payment._send({ type: "appearance", appearance: this._appearance });
        }
      }
      return this;
    }

    submit() {
      const element = this._mountedElement();
      this._pendingSubmit = (async () => {
        const reply = await element._request({ type: "submit" }, CONFIRM_TIMEOUT_MS);
        if (reply.lost) {
          return { error: { type: "validation_error", message: "The payment form is not available." } };
        }
        return reply.error ? { error: reply.error } : {};
      })();
      const pending = this._pendingSubmit;
      pending.finally(() => {
        if (this._pendingSubmit === pending) {
          this._pendingSubmit = null;
        }
      });
      return pending;
    }

    async fetchUpdates() {
      const result = await this._stripe.retrievePaymentIntent(this._clientSecret);
      if (result.error) {
        return { error: result.error };
      }
      this.amount = result.paymentIntent.amount;
      this.currency = result.paymentIntent.currency;
      if (this._payment) {
        this._payment._send({ type: "intent", amount: this.amount, currency: this.currency });
      }
      return {};
    }

    _mountedElement() {
      if (!this._payment || !this._payment._iframe) {
        throw new IntegrationError(
          "elements.submit(): the Payment Element must be created and mounted before submitting."
        );
      }
      return this._payment;
    }

    _forget(element) {
      if (this._payment === element) {
        this._payment = null;
      }
    }
  }

  // The 3D Secure challenge: a modal overlay in the host page framing the sandbox's challenge page.
  function runChallenge(challengeUrl) {
    return new Promise((resolve) => {
      const url = new URL(challengeUrl, SANDBOX_ORIGIN);
      if (url.origin !== SANDBOX_ORIGIN) {
        resolve({ error: { type: "api_error", message: "Unexpected 3D Secure challenge location." } });
        return;
      }
      url.searchParams.set("origin", window.location.origin);

      const overlay = document.createElement("div");
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-label", "3D Secure authentication");
      Object.assign(overlay.style, {
        position: "fixed",
        inset: "0",
        zIndex: "2147483647",
        background: "rgba(0, 0, 0, 0.5)",
        display: "flex",
        alignItems: "center",
        justifyContent: "center",
        padding: "16px",
        boxSizing: "border-box",
      });
      const iframe = document.createElement("iframe");
      iframe.src = url.href;
      iframe.title = "3D Secure authentication";
      iframe.setAttribute("frameborder", "0");
      Object.assign(iframe.style, {
        border: "0",
        borderRadius: "8px",
        background: "#fff",
        width: "min(440px, 100%)",
        height: "min(420px, 100%)",
        boxShadow: "0 10px 40px rgba(0, 0, 0, 0.35)",
      });
      overlay.appendChild(iframe);

      const previousFocus = document.activeElement;
      const onMessage = (event) => {
        const message = readMessage(event, iframe);
        if (!message) {
          return;
        }
        if (message.type === "3ds-resize" && Number.isFinite(message.height)) {
          iframe.style.height = `min(${Math.ceil(message.height)}px, 100%)`;
          return;
        }
        if (message.type !== "3ds-complete") {
          return;
        }
        window.removeEventListener("message", onMessage);
        overlay.remove();
        if (previousFocus && typeof previousFocus.focus === "function") {
          previousFocus.focus();
        }
        resolve({ paymentIntent: message.paymentIntent });
      };
      window.addEventListener("message", onMessage);
      document.body.appendChild(overlay);
      iframe.focus();
    });
  }

  // What a settled intent means to the caller of confirmPayment.
  function settle(paymentIntent) {
    if (paymentIntent.status === "requires_payment_method" && paymentIntent.last_payment_error) {
      return { error: clientError(paymentIntent.last_payment_error, paymentIntent) };
    }
    return { paymentIntent };
  }

  class StripeSandbox {
    constructor(publishableKey, options) {
      if (typeof publishableKey !== "string" || !publishableKey.startsWith("pk_")) {
        throw new IntegrationError(
          "Invalid value for Stripe(): apiKey should be a publishable key (pk_...). " +
            `You specified: ${publishableKey}.`
        );
      }
      this._key = publishableKey;
      this._options = Object.assign({}, options);
    }

    elements(options) {
      const opts = Object.assign({}, options);
      if (!opts.clientSecret) {
        throw new IntegrationError(
          "The sandbox's Stripe.js needs elements({clientSecret}); deferred intents are not supported."
        );
      }
      intentIdFromSecret(opts.clientSecret);
      return new Elements(this, opts);
    }

    async retrievePaymentIntent(clientSecret) {
      const id = intentIdFromSecret(clientSecret);
      const url = new URL(`/v1/payment_intents/${encodeURIComponent(id)}`, SANDBOX_ORIGIN);
      url.searchParams.set("client_secret", clientSecret);
      url.searchParams.set("key", this._key);
      // A simple GET with the key as a parameter needs no CORS preflight.
      return intentResult(await fetchJson(url.href, { method: "GET", credentials: "omit" }));
    }

    async confirmPayment(options) {
      const opts = Object.assign({}, options);
      const elements = opts.elements;
      if (!(elements instanceof Elements)) {
        throw new IntegrationError(
          "stripe.confirmPayment(): expected the `elements` option to be an Elements group " +
            "created by this Stripe instance."
        );
      }
      const redirect = opts.redirect || "always";
      if (redirect !== "always" && redirect !== "if_required") {
        throw new IntegrationError('Invalid value for redirect: use "always" or "if_required".');
      }
      const confirmParams = Object.assign({}, opts.confirmParams);
      if (redirect === "always" && !confirmParams.return_url) {
        throw new IntegrationError(
          "stripe.confirmPayment(): the `confirmParams.return_url` argument is required unless " +
            "passing `redirect: 'if_required'`."
        );
      }
      const clientSecret = opts.clientSecret || elements._clientSecret;
      intentIdFromSecret(clientSecret);
      const element = elements._mountedElement();
      if (elements._pendingSubmit) {
        // Stripe asks callers to await submit(); finishing it first keeps both calls well defined.
        await elements._pendingSubmit;
      }

      const reply = await element._request(
        { type: "confirm", clientSecret, confirmParams },
        CONFIRM_TIMEOUT_MS
      );
      if (reply.lost) {
        return {
          error: {
            type: "api_connection_error",
            message: "The payment form stopped responding before the payment was confirmed.",
          },
        };
      }
      if (reply.validationError) {
        return { error: reply.validationError };
      }
      let result = intentResult(reply);
      const intent = result.paymentIntent;
      if (intent && intent.status === "requires_action") {
        const action = intent.next_action || {};
        const sdk = action.type === "use_stripe_sdk" ? action.use_stripe_sdk || {} : {};
        if (sdk.type !== "three_d_secure_redirect" || !sdk.stripe_js) {
          return { error: { type: "api_error", message: "Unsupported next_action in the sandbox." } };
        }
        result = await runChallenge(sdk.stripe_js);
      }
      if (result.paymentIntent) {
        result = settle(result.paymentIntent);
      }
      if (result.paymentIntent && redirect === "always") {
        window.location.assign(returnUrlWith(confirmParams.return_url, result.paymentIntent));
        // Like Stripe.js, never resolve while the page is navigating away.
        return new Promise(() => {});
      }
      return result;
    }
  }

  function Stripe(publishableKey, options) {
    return new StripeSandbox(publishableKey, options);
  }
  Stripe.__sandbox = { origin: SANDBOX_ORIGIN };
  Stripe.version = 3;
  window.Stripe = Stripe;
})();
