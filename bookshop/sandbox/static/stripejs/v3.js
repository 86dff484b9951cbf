/*
 * The sandbox's stand-in for Stripe.js v3: the small subset the bookshop uses, speaking to the local
 * sandbox API instead of Stripe. The Payment Element (cards only) in either of Stripe.js's modes:
 *
 * - with a PaymentIntent: stripe.elements({clientSecret}), confirmed in the browser by
 *   stripe.confirmPayment (elements.fetchUpdates, stripe.retrievePaymentIntent);
 * - deferred ("finalize payments on the server"): stripe.elements({mode: "payment", amount,
 *   currency}) before any intent exists, elements.update({amount}), elements.submit(), then
 *   stripe.createConfirmationToken({elements, params}) for the server to confirm with, and
 *   stripe.handleNextAction({clientSecret}) for the 3D Secure challenge the server's confirm asked for.
 *
 * As with the real thing, card data never enters the host page: the fields live in an iframe served
 * by the sandbox origin, which also makes the requests that carry them (the confirm, or creating the
 * ConfirmationToken). This script only sees the API's answer, which holds no card number.
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

  // The Elements modes the stand-in can render. Stripe.js also has "setup" and "subscription", for
  // SetupIntents and subscriptions, which the sandbox does not model.
  const SUPPORTED_MODES = ["payment"];
  const MODES = ["payment", "setup", "subscription"];
  // Options Stripe.js rejects since API version 2026-09-30.endive (the sandbox's version).
  const REMOVED_OPTIONS = {
    paymentMethodTypes:
      "paymentMethodTypes is no longer supported when creating Elements without an intent; use " +
      "allowedPaymentMethodTypes, or manage payment methods in the Dashboard.",
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

  function checkAmount(where, amount) {
    if (!Number.isInteger(amount) || amount < 1) {
      throw new IntegrationError(
        `Invalid value for ${where}: amount should be a positive integer in the currency's smallest ` +
          `unit. You specified: ${JSON.stringify(amount)}.`
      );
    }
  }

  function checkCurrency(where, currency) {
    if (typeof currency !== "string" || !/^[a-z]{3}$/.test(currency)) {
      throw new IntegrationError(
        `Invalid value for ${where}: currency should be a three-letter ISO currency code, in ` +
          `lowercase. You specified: ${JSON.stringify(currency)}.`
      );
    }
  }

  function checkRemovedOptions(where, options) {
    for (const [name, message] of Object.entries(REMOVED_OPTIONS)) {
      if (options[name] !== undefined) {
        throw new IntegrationError(`${where}: ${message}`);
      }
    }
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

  // Turns a fetch outcome into {[key]: object} when the API answered an object of that kind, or
  // {error}, as Stripe.js resolves its promises; never throws.
  function apiResult(outcome, objectType, key) {
    if (outcome.networkError) {
      return {
        error: {
          type: "api_connection_error",
          message: "We could not connect to the payment server. Check your connection and try again.",
        },
      };
    }
    const body = outcome.body;
    if (outcome.status >= 200 && outcome.status < 300 && body && body.object === objectType) {
      return { [key]: body };
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

  // Turns a fetch outcome into {paymentIntent} or {error}; never throws.
  function intentResult(outcome) {
    return apiResult(outcome, "payment_intent", "paymentIntent");
  }

  function frameLost(what) {
    return {
      error: {
        type: "api_connection_error",
        message: `The payment form stopped responding before ${what}.`,
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
            mode: this._group._mode,
            amount: this._group.amount,
            currency: this._group.currency,
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

  // The Elements group created by stripe.elements(): with a PaymentIntent's client secret, or
  // deferred (`mode`, `amount` and `currency`, before any intent exists).
  class Elements {
    constructor(stripe, options) {
      this._stripe = stripe;
      this._clientSecret = options.clientSecret || null;
      this._mode = this._clientSecret ? null : options.mode || null;
      this._appearance = options.appearance || {};
      this._payment = null;
      this._pendingSubmit = null;
      // Whether elements.submit() last resolved without an error (deferred flows need it first).
      this._submitted = false;
      this._handlers = new Map();
      // What the Element knows of the payment: from the options (deferred) or fetchUpdates().
      this.amount = this._mode ? options.amount : null;
      this.currency = this._mode ? options.currency : null;
    }

    create(type, options) {
      if (type !== "payment") {
        throw new IntegrationError(
          `The sandbox's Stripe.js only supports the "payment" Element, not "${type}".`
        );
      }
      if (!this._clientSecret && !this._mode) {
        throw new IntegrationError(
          "In order to create a payment element, you must pass a clientSecret or mode when " +
            "creating the Elements group.\n\ne.g. stripe.elements({clientSecret: \"{{CLIENT_SECRET}}\"})"
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

    on(event, handler) {
      if (!this._handlers.has(event)) {
        this._handlers.set(event, new Set());
      }
      this._handlers.get(event).add(handler);
    }

    // Stripe.js resolves once the Element has taken the new options (then fires "update-end").
    async update(options) {
      const opts = Object.assign({}, options);
      checkRemovedOptions("elements.update()", opts);
      const intentOptions = ["mode", "amount", "currency"].filter((name) => opts[name] !== undefined);
      if (this._clientSecret && intentOptions.length) {
        throw new IntegrationError(
          `elements.update(): ${intentOptions.join(", ")} cannot be updated on an Elements group ` +
            "created with a clientSecret; update the PaymentIntent on your server and call " +
            "elements.fetchUpdates() instead."
        );
      }
      if (opts.mode !== undefined) {
        checkMode("elements.update()", opts.mode);
      }
      if (opts.amount !== undefined) {
        checkAmount("elements.update()", opts.amount);
      }
      if (opts.currency !== undefined) {
        checkCurrency("elements.update()", opts.currency);
      }
      // Checked first, applied together: a refused update changes nothing.
      if (opts.mode !== undefined) {
        this._mode = opts.mode;
      }
      if (opts.amount !== undefined) {
        this.amount = opts.amount;
      }
      if (opts.currency !== undefined) {
        this.currency = opts.currency;
      }
      const element = this._payment;
      if (opts.appearance) {
        this._appearance = opts.appearance;
        if (element) {
          element._send({ type: "appearance", appearance: this._appearance });
        }
      }
      if (element && element._iframe && intentOptions.length) {
        await element._request(
          { type: "intent", mode: this._mode, amount: this.amount, currency: this.currency },
          FETCH_TIMEOUT_MS
        );
      }
      this._emit("update-end");
    }

    submit() {
      const element = this._mountedElement("elements.submit()");
      this._submitted = false;
      this._pendingSubmit = (async () => {
        const reply = await element._request({ type: "submit" }, CONFIRM_TIMEOUT_MS);
        if (reply.lost) {
          return { error: { type: "validation_error", message: "The payment form is not available." } };
        }
        if (reply.error) {
          return { error: reply.error };
        }
        this._submitted = true;
        return { selectedPaymentMethod: "card" };
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
      if (!this._clientSecret) {
        throw new IntegrationError(
          "elements.fetchUpdates() can only be used with an Elements group created with a " +
            "clientSecret. In deferred mode, call elements.update({amount}) instead."
        );
      }
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

    // A deferred flow must submit() first; Stripe.js refuses it otherwise. A submit still under way
    // is waited for, as Stripe asks callers to await it.
    async _requireSubmit(where) {
      if (this._pendingSubmit) {
        await this._pendingSubmit;
      }
      if (!this._submitted) {
        throw new IntegrationError(
          `elements.submit() must be called before ${where}. Call elements.submit() as soon as ` +
            "your customer presses pay, prior to any asynchronous work."
        );
      }
    }

    _emit(event, payload) {
      const handlers = this._handlers.get(event);
      for (const handler of Array.from(handlers || [])) {
        try {
          handler(payload);
        } catch (err) {
          setTimeout(() => {
            throw err;
          });
        }
      }
    }

    _mountedElement(where) {
      if (!this._payment || !this._payment._iframe) {
        throw new IntegrationError(
          `${where}: the Payment Element must be created and mounted first.`
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

  function checkMode(where, mode) {
    if (!MODES.includes(mode)) {
      throw new IntegrationError(
        `Invalid value for ${where}: mode should be one of ${MODES.join(", ")}. You specified: ` +
          `${JSON.stringify(mode)}.`
      );
    }
    if (!SUPPORTED_MODES.includes(mode)) {
      throw new IntegrationError(
        `The sandbox's Stripe.js supports mode: "payment" only, not ${JSON.stringify(mode)}.`
      );
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

  // What a settled intent means to the caller of confirmPayment or handleNextAction.
  function settle(paymentIntent) {
    if (paymentIntent.status === "requires_payment_method" && paymentIntent.last_payment_error) {
      return { error: clientError(paymentIntent.last_payment_error, paymentIntent) };
    }
    return { paymentIntent };
  }

  // Only a web page may be navigated to: never a javascript: or data: URL from an API answer.
  function webUrl(value) {
    try {
      const url = new URL(String(value), window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  // Never settles: what Stripe.js returns while the page navigates away.
  function navigateAway(url) {
    window.location.assign(url);
    return new Promise(() => {});
  }

  function elementsGroup(where, elements) {
    if (!(elements instanceof Elements)) {
      throw new IntegrationError(
        `${where}: expected the \`elements\` option to be an Elements group created by this ` +
          "Stripe instance."
      );
    }
    return elements;
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

    // stripe.elements({clientSecret}) or, deferred, stripe.elements({mode, amount, currency}).
    elements(options) {
      const opts = Object.assign({}, options);
      if (opts.clientSecret !== undefined && opts.mode !== undefined) {
        throw new IntegrationError(
          "stripe.elements(): pass either clientSecret or mode, not both. mode is for creating " +
            "Elements before an intent exists."
        );
      }
      if (opts.clientSecret !== undefined) {
        intentIdFromSecret(opts.clientSecret);
      } else if (opts.mode !== undefined) {
        checkRemovedOptions("stripe.elements()", opts);
        checkMode("stripe.elements()", opts.mode);
        checkAmount("stripe.elements()", opts.amount);
        checkCurrency("stripe.elements()", opts.currency);
      }
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
      const elements = elementsGroup("stripe.confirmPayment()", opts.elements);
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
      if (!clientSecret) {
        throw new IntegrationError(
          "stripe.confirmPayment(): the `clientSecret` argument is required when the Elements " +
            "group was created without one (deferred mode)."
        );
      }
      intentIdFromSecret(clientSecret);
      const element = elements._mountedElement("stripe.confirmPayment()");
      if (elements._mode) {
        await elements._requireSubmit("stripe.confirmPayment()");
      } else if (elements._pendingSubmit) {
        // Stripe asks callers to await submit(); finishing it first keeps both calls well defined.
        await elements._pendingSubmit;
      }

      const reply = await element._request(
        { type: "confirm", clientSecret, confirmParams },
        CONFIRM_TIMEOUT_MS
      );
      if (reply.lost) {
        return frameLost("the payment was confirmed");
      }
      if (reply.validationError) {
        return { error: reply.validationError };
      }
      let result = intentResult(reply);
      const intent = result.paymentIntent;
      if (intent && intent.status === "requires_action") {
        result = await this._nextAction(intent);
      }
      if (result.paymentIntent) {
        result = settle(result.paymentIntent);
      }
      if (result.paymentIntent && redirect === "always") {
        // Like Stripe.js, never resolve while the page is navigating away.
        return navigateAway(returnUrlWith(confirmParams.return_url, result.paymentIntent));
      }
      return result;
    }

    // Turns what the Payment Element collected into a ConfirmationToken for the server to confirm
    // a PaymentIntent with. The card fields' frame posts the card data to the API itself; this page
    // only gets the token, which holds no card number.
    async createConfirmationToken(options) {
      const opts = Object.assign({}, options);
      const elements = elementsGroup("stripe.createConfirmationToken()", opts.elements);
      const params = Object.assign({}, opts.params);
      if (params.payment_method_data !== undefined && typeof params.payment_method_data !== "object") {
        throw new IntegrationError(
          "Invalid value for createConfirmationToken: params.payment_method_data should be an object."
        );
      }
      const element = elements._mountedElement("stripe.createConfirmationToken()");
      await elements._requireSubmit("stripe.createConfirmationToken()");

      const reply = await element._request(
        { type: "confirmation_token", params },
        CONFIRM_TIMEOUT_MS
      );
      if (reply.lost) {
        return frameLost("the payment details were sent");
      }
      if (reply.validationError) {
        return { error: reply.validationError };
      }
      return apiResult(reply, "confirmation_token", "confirmationToken");
    }

    // Finishes a PaymentIntent the server confirmed and left in requires_action: shows the 3D Secure
    // challenge (or goes to the bank's page), then reads the intent back as Stripe.js does.
    async handleNextAction(options) {
      const opts = Object.assign({}, options);
      if (opts.hashedValue !== undefined) {
        throw new IntegrationError(
          "The sandbox's Stripe.js does not support shared payment tokens (hashedValue)."
        );
      }
      const clientSecret = opts.clientSecret;
      intentIdFromSecret(clientSecret);
      const retrieved = await this.retrievePaymentIntent(clientSecret);
      if (retrieved.error) {
        return retrieved;
      }
      const intent = retrieved.paymentIntent;
      if (intent.status !== "requires_action") {
        throw new IntegrationError(
          "stripe.handleNextAction(): the PaymentIntent must have the status requires_action; " +
            `it has ${intent.status}.`
        );
      }
      const result = await this._nextAction(intent);
      if (result.error) {
        return result;
      }
      // The challenge's own answer is not trusted: the intent is read again, as Stripe.js does.
      const after = await this.retrievePaymentIntent(clientSecret);
      return after.paymentIntent ? settle(after.paymentIntent) : after;
    }

    // Carries out an intent's next_action: {paymentIntent} once done, or {error}; a redirect never
    // settles (the page goes to the bank's page).
    async _nextAction(intent) {
      const action = intent.next_action || {};
      if (action.type === "redirect_to_url") {
        const url = webUrl((action.redirect_to_url || {}).url);
        if (url) {
          return navigateAway(url);
        }
      }
      const sdk = action.type === "use_stripe_sdk" ? action.use_stripe_sdk || {} : {};
      if (sdk.type === "three_d_secure_redirect" && sdk.stripe_js) {
        return runChallenge(sdk.stripe_js);
      }
      return { error: { type: "api_error", message: "Unsupported next_action in the sandbox." } };
    }
  }

  function Stripe(publishableKey, options) {
    return new StripeSandbox(publishableKey, options);
  }
  Stripe.__sandbox = { origin: SANDBOX_ORIGIN };
  Stripe.version = 3;
  window.Stripe = Stripe;
})();
