/*
 * The card fields of the sandbox's Payment Element, running inside an iframe on the sandbox origin.
 *
 * Card data stays here: the frame validates it, sends it to the sandbox API itself (same origin) and
 * tells the host page only whether the fields are complete and, after a confirm or after creating a
 * ConfirmationToken, the API's answer (which holds no card number).
 */
(() => {
  "use strict";

  const MESSAGE_PREFIX = "stripe-sandbox:";
  const FETCH_TIMEOUT_MS = 30000;

  const form = document.getElementById("payment-form");
  const fields = {
    number: document.getElementById("card-number"),
    expiry: document.getElementById("card-expiry"),
    cvc: document.getElementById("card-cvc"),
    postal: document.getElementById("postal-code"),
  };
  const order = ["number", "expiry", "cvc", "postal"];
  const countrySelect = document.getElementById("billing-country");
  const postalField = document.getElementById("postal-code-field");
  const postalLabel = document.querySelector('label[for="postal-code"]');

  // Shapes of a postal code: 9 a digit, A a letter, a space or hyphen optional.
  const shapeToken = { 9: "\\d", A: "[A-Z]", " ": " ?", "-": "-?" };
  function postalRule(label, placeholder, shapes) {
    const tokens = shapes.map((shape) => [...shape].map((c) => shapeToken[c]));
    const numeric = shapes.every((shape) => !shape.includes("A"));
    const separators = [...new Set(shapes.join("").replace(/[9A]/g, ""))].join("");
    return {
      label,
      noun: label === "ZIP code" ? label : label.toLowerCase(),
      placeholder,
      numeric,
      maxLength: Math.max(...shapes.map((shape) => shape.length)),
      unwanted: new RegExp(`[^${numeric ? "0-9" : "A-Z0-9"}${separators}]`, "g"),
      complete: tokens.map((t) => new RegExp(`^${t.join("")}$`)),
      // A prefix of some shape: still being typed, so incomplete rather than invalid.
      partial: tokens.map(
        (t) => new RegExp(`^${t.reduceRight((inner, token) => `(?:${token}${inner})?`, "")}$`),
      ),
    };
  }

  // Stripe's card form asks for a postal code in US, GB and CA only (stripe-android's
  // CardBillingAddressElement); SG too here, where most of the shop's shoppers live (issue 27).
  const POSTAL_RULES = {
    US: postalRule("ZIP code", "12345", ["99999", "99999-9999"]),
    CA: postalRule("Postal code", "A1A 1A1", ["A9A 9A9"]),
    GB: postalRule("Postal code", "SW1A 1AA", [
      "A9 9AA",
      "A99 9AA",
      "AA9 9AA",
      "AA99 9AA",
      "A9A 9AA",
      "AA9A 9AA",
    ]),
    SG: postalRule("Postal code", "123456", ["999999"]),
  };
  const currentPostalRule = () => POSTAL_RULES[countrySelect.value] || null;

  const state = {
    publishableKey: null,
    clientSecret: null,
    // The Element's defaultValues.billingDetails.address.country: the billing country the
    // select starts at (and returns to on clear), as the real Payment Element preselects it.
    country: "US",
    busy: false,
    // A field shows its error once the shopper has left it, or once a submit asked for all errors.
    touched: new Set(),
    lastChange: "",
  };

  // The host page's origin, which mount() put in the URL. Where the browser can tell us who really
  // frames us (Chromium's ancestorOrigins), a mismatch means someone else is framing the fields.
  const parentOrigin = (() => {
    const claimed = new URLSearchParams(window.location.search).get("origin");
    let origin = null;
    try {
      origin = claimed ? new URL(claimed).origin : null;
    } catch (_) {
      origin = null;
    }
    const ancestors = window.location.ancestorOrigins;
    if (origin && ancestors && ancestors.length && ancestors[0] !== origin) {
      return null;
    }
    return origin;
  })();
  const framed = window.parent !== window && parentOrigin !== null;

  function post(message) {
    if (framed) {
      window.parent.postMessage(MESSAGE_PREFIX + JSON.stringify(message), parentOrigin);
    }
  }

  const digits = (value) => value.replace(/\D/g, "");

  function brandOf(number) {
    return /^3[47]/.test(number) ? "amex" : "other";
  }

  function luhnValid(number) {
    let sum = 0;
    for (let i = 0; i < number.length; i++) {
      let d = Number(number[number.length - 1 - i]);
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function parseExpiry(value) {
    const d = digits(value);
    return { d, month: Number(d.slice(0, 2)), year: 2000 + Number(d.slice(2, 4)) };
  }

  // Each validator returns null when the field is valid, else Stripe's code and message. `final`
  // errors are certain even while the shopper is still typing (a full number failing Luhn).
  const validators = {
    number(value) {
      const n = digits(value);
      const length = brandOf(n) === "amex" ? 15 : 16;
      if (n.length < length) {
        return { code: "incomplete_number", message: "Your card number is incomplete." };
      }
      if (!luhnValid(n)) {
        return { code: "invalid_number", message: "Your card number is invalid.", final: true };
      }
      return null;
    },
    expiry(value) {
      const { d, month, year } = parseExpiry(value);
      if (d.length >= 2 && (month < 1 || month > 12)) {
        return {
          code: "invalid_expiry_month",
          message: "Your card's expiration date is invalid.",
          final: true,
        };
      }
      if (d.length < 4) {
        return { code: "incomplete_expiry", message: "Your card's expiration date is incomplete." };
      }
      const now = new Date();
      const thisYear = now.getFullYear();
      if (year < thisYear) {
        return {
          code: "invalid_expiry_year_past",
          message: "Your card's expiration year is in the past.",
          final: true,
        };
      }
      if (year === thisYear && month < now.getMonth() + 1) {
        return {
          code: "invalid_expiry_month_past",
          message: "Your card's expiration date is in the past.",
          final: true,
        };
      }
      if (year > thisYear + 50) {
        return { code: "invalid_expiry_year", message: "Your card's expiration year is invalid.", final: true };
      }
      return null;
    },
    cvc(value) {
      const length = brandOf(digits(fields.number.value)) === "amex" ? 4 : 3;
      if (digits(value).length < length) {
        return { code: "incomplete_cvc", message: "Your card's security code is incomplete." };
      }
      return null;
    },
    postal(value) {
      const rule = currentPostalRule();
      const v = value.trim().toUpperCase();
      if (!rule || rule.complete.some((shape) => shape.test(v))) {
        return null;
      }
      if (rule.partial.some((shape) => shape.test(v))) {
        return { code: "incomplete_zip", message: `Your ${rule.noun} is incomplete.` };
      }
      return { code: "invalid_zip", message: `Your ${rule.noun} is invalid.` };
    },
  };

  // Formatting keeps the caret after the same number of digits (or letters and digits, for a
  // postal code with letters), so editing mid-field works.
  function reformat(input, format, significant = /\d/) {
    const caret = input.selectionStart === null ? input.value.length : input.selectionStart;
    const count = (text) => [...text].filter((c) => significant.test(c)).length;
    const keptBeforeCaret = count(input.value.slice(0, caret));
    const formatted = format(input.value);
    if (formatted === input.value) {
      return;
    }
    input.value = formatted;
    let position = 0;
    let seen = 0;
    while (position < formatted.length && seen < keptBeforeCaret) {
      if (significant.test(formatted[position])) {
        seen++;
      }
      position++;
    }
    if (document.activeElement === input) {
      input.setSelectionRange(position, position);
    }
  }

  const formatters = {
    number(value) {
      const n = digits(value);
      if (brandOf(n) === "amex") {
        const d = n.slice(0, 15);
        return [d.slice(0, 4), d.slice(4, 10), d.slice(10)].filter(Boolean).join(" ");
      }
      return (n.slice(0, 16).match(/.{1,4}/g) || []).join(" ");
    },
    expiry(value) {
      let d = digits(value).slice(0, 4);
      if (d.length === 1 && Number(d) > 1) {
        d = "0" + d; // "4" can only mean April.
      }
      return d.length > 2 ? `${d.slice(0, 2)} / ${d.slice(2)}` : d;
    },
    cvc(value) {
      return digits(value).slice(0, 4);
    },
    postal(value) {
      const rule = currentPostalRule();
      if (!rule) {
        return value;
      }
      const kept = value.toUpperCase().replace(rule.unwanted, "").replace(/^[ -]+/, "");
      return kept.replace(/ {2,}/g, " ").slice(0, rule.maxLength);
    },
  };

  function showError(name, error) {
    const input = fields[name];
    const message = document.getElementById(input.getAttribute("aria-describedby"));
    input.setAttribute("aria-invalid", error ? "true" : "false");
    message.textContent = error ? error.message : "";
  }

  function refreshErrors(showAll) {
    for (const name of order) {
      const value = fields[name].value;
      const error = validators[name](value);
      const visible =
        error && (showAll || error.final || (state.touched.has(name) && value.trim() !== ""));
      showError(name, visible ? error : null);
    }
  }

  function firstError() {
    for (const name of order) {
      const error = validators[name](fields[name].value);
      if (error) {
        return { name, error: { type: "validation_error", code: error.code, message: error.message } };
      }
    }
    return null;
  }

  // The fields the shopper can see: the postal code only where the country has one.
  const shownFields = () => order.filter((name) => name !== "postal" || currentPostalRule());

  // Relabels and reshapes the postal field for the selected country, or hides it. Its maxlength
  // stays loose (10) so a pasted code with separators fits; the formatter cuts it to length.
  function applyCountry() {
    const rule = currentPostalRule();
    postalField.hidden = !rule;
    if (!rule) {
      return;
    }
    postalLabel.textContent = rule.label;
    fields.postal.placeholder = rule.placeholder;
    if (rule.numeric) {
      fields.postal.setAttribute("inputmode", "numeric");
      fields.postal.removeAttribute("autocapitalize");
    } else {
      fields.postal.removeAttribute("inputmode");
      fields.postal.setAttribute("autocapitalize", "characters");
    }
  }

  function selectCountry(country) {
    const offered = [...countrySelect.options].some((option) => option.value === country);
    countrySelect.value = offered ? country : "US";
    applyCountry();
  }

  function changeKey() {
    const complete = firstError() === null;
    const empty = shownFields().every((name) => fields[name].value.trim() === "");
    return JSON.stringify({ complete, empty });
  }

  function reportChange() {
    const key = changeKey();
    if (key !== state.lastChange) {
      state.lastChange = key;
      post(Object.assign({ type: "change" }, JSON.parse(key)));
    }
  }

  // Shows every error and focuses the first bad field, as Stripe's element does on submit.
  function validateForSubmit() {
    for (const name of order) {
      state.touched.add(name);
    }
    refreshErrors(true);
    const failure = firstError();
    if (failure) {
      fields[failure.name].focus();
      return failure.error;
    }
    return null;
  }

  function setBusy(busy) {
    state.busy = busy;
    for (const name of order) {
      fields[name].readOnly = busy;
    }
    countrySelect.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // Flattens nested params into Stripe's bracket notation: a[b][c]=v.
  function appendParams(params, value, prefix) {
    if (value === null || value === undefined) {
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => appendParams(params, item, `${prefix}[${index}]`));
    } else if (typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) {
        appendParams(params, inner, prefix ? `${prefix}[${key}]` : key);
      }
    } else {
      params.append(prefix, String(value));
    }
  }

  function defaultCountry(options) {
    const address = (((options || {}).defaultValues || {}).billingDetails || {}).address || {};
    return /^[A-Z]{2}$/.test(address.country || "") ? address.country : "US";
  }

  const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

  // `payment_method_data` for the card in the fields: the page's own (its billing details under
  // the Element's country and postal code; anything else as given, for the API to judge), with the
  // type and the card always from here: the page can never supply or replace the card.
  function cardMethodData(pageMethodData) {
    const page = isObject(pageMethodData) ? pageMethodData : {};
    const { d: expiry } = parseExpiry(fields.expiry.value);
    const billing = Object.assign({}, isObject(page.billing_details) ? page.billing_details : {});
    const address = Object.assign({}, isObject(billing.address) ? billing.address : {});
    address.country = countrySelect.value;
    delete address.postal_code; // sent only from a postal field the shopper saw
    if (currentPostalRule()) {
      address.postal_code = fields.postal.value.trim().toUpperCase();
    }
    billing.address = address;
    const methodData = Object.assign({}, page, { type: "card", billing_details: billing });
    methodData.card = {
      number: digits(fields.number.value),
      exp_month: String(Number(expiry.slice(0, 2))),
      exp_year: String(2000 + Number(expiry.slice(2, 4))),
      cvc: digits(fields.cvc.value),
    };
    return methodData;
  }

  function confirmBody(clientSecret, confirmParams) {
    const extra = Object.assign({}, confirmParams);
    const methodData = cardMethodData(extra.payment_method_data);
    delete extra.payment_method_data;

    const params = new URLSearchParams();
    params.append("key", state.publishableKey);
    params.append("client_secret", clientSecret);
    params.append("expected_payment_method_type", "card");
    appendParams(params, methodData, "payment_method_data");
    appendParams(params, extra, "");
    return params;
  }

  // POST /v1/confirmation_tokens as Stripe.js does: the publishable key in the body, the card's
  // payment_method_data, and the page's shipping, return_url and other params beside it.
  function confirmationTokenBody(pageParams) {
    const extra = Object.assign({}, isObject(pageParams) ? pageParams : {});
    const methodData = cardMethodData(extra.payment_method_data);
    delete extra.payment_method_data;
    delete extra.payment_method; // the token is for the card in these fields, never another one

    const params = new URLSearchParams();
    params.append("key", state.publishableKey);
    appendParams(params, methodData, "payment_method_data");
    appendParams(params, extra, "");
    return params;
  }

  // Posts the card to the sandbox API (same origin), the fields read-only meanwhile:
  // {status, body} or {networkError}.
  async function postCard(path, params) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    setBusy(true);
    try {
      const response = await fetch(path, {
        method: "POST",
        body: params,
        credentials: "omit",
        signal: controller.signal,
      });
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
      setBusy(false);
    }
  }

  async function confirm(clientSecret, confirmParams) {
    const invalid = validateForSubmit();
    if (invalid) {
      return { validationError: invalid };
    }
    const match = /^(pi_[A-Za-z0-9]+)_secret_/.exec(clientSecret || "");
    if (!match || !state.publishableKey) {
      return { status: 400, body: { error: { type: "invalid_request_error", message: "Invalid client secret." } } };
    }
    return postCard(`/v1/payment_intents/${match[1]}/confirm`, confirmBody(clientSecret, confirmParams));
  }

  async function createConfirmationToken(pageParams) {
    const invalid = validateForSubmit();
    if (invalid) {
      return { validationError: invalid };
    }
    return postCard("/v1/confirmation_tokens", confirmationTokenBody(pageParams));
  }

  function applyAppearance(appearance) {
    const root = document.documentElement;
    const variables = (appearance && appearance.variables) || {};
    const mapping = {
      colorPrimary: "--color-primary",
      colorBackground: "--color-background",
      colorText: "--color-text",
      colorDanger: "--color-danger",
      fontFamily: "--font-family",
      borderRadius: "--border-radius",
    };
    for (const [name, property] of Object.entries(mapping)) {
      if (typeof variables[name] === "string") {
        root.style.setProperty(property, variables[name]);
      }
    }
    root.classList.toggle("theme-night", Boolean(appearance && appearance.theme === "night"));
  }

  // What the Element knows of the payment (deferred mode: the page's elements.update()), kept on the
  // form where a wallet's sheet would read it. Cards show no amount.
  function showIntent(message) {
    for (const key of ["mode", "amount", "currency"]) {
      if (message[key] === null || message[key] === undefined) {
        delete form.dataset[key];
      } else {
        form.dataset[key] = String(message[key]);
      }
    }
  }

  async function handle(message) {
    switch (message.type) {
      case "init":
        state.publishableKey = message.publishableKey;
        state.clientSecret = message.clientSecret;
        state.country = defaultCountry(message.options);
        selectCountry(state.country);
        setBusy(false); // the template serves the fields read-only until the country is known
        showIntent(message);
        applyAppearance(message.appearance);
        post({ type: "ready" });
        reportSize();
        // Stripe sends change events only when something changes, not on load.
        state.lastChange = changeKey();
        break;
      case "appearance":
        applyAppearance(message.appearance);
        break;
      case "focus":
        fields.number.focus();
        break;
      case "blur":
        if (document.activeElement instanceof HTMLElement) {
          document.activeElement.blur();
        }
        break;
      case "clear":
        for (const name of order) {
          fields[name].value = "";
        }
        selectCountry(state.country);
        state.touched.clear();
        refreshErrors(false);
        reportChange();
        break;
      case "intent":
        showIntent(message);
        if (message.requestId !== undefined) {
          post({ type: "reply", requestId: message.requestId });
        }
        break;
      case "submit": {
        const error = validateForSubmit();
        post({ type: "reply", requestId: message.requestId, error });
        break;
      }
      case "confirm":
      case "confirmation_token": {
        if (state.busy) {
          const error = { type: "invalid_request_error", message: "A payment is already being confirmed." };
          post({ type: "reply", requestId: message.requestId, status: 400, body: { error } });
          break;
        }
        const result =
          message.type === "confirm"
            ? await confirm(message.clientSecret || state.clientSecret, message.confirmParams)
            : await createConfirmationToken(message.params);
        post(Object.assign({ type: "reply", requestId: message.requestId }, result));
        break;
      }
      default:
        break;
    }
  }

  window.addEventListener("message", (event) => {
    // Only the page that framed us, at the origin it claimed, may drive the fields.
    if (!framed || event.source !== window.parent || event.origin !== parentOrigin) {
      return;
    }
    if (typeof event.data !== "string" || !event.data.startsWith(MESSAGE_PREFIX)) {
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data.slice(MESSAGE_PREFIX.length));
    } catch (_) {
      return;
    }
    handle(message);
  });

  for (const name of order) {
    const input = fields[name];
    input.addEventListener("input", () => {
      const rule = name === "postal" ? currentPostalRule() : null;
      reformat(input, formatters[name], rule && !rule.numeric ? /[A-Za-z0-9]/ : /\d/);
      refreshErrors(false);
      reportChange();
    });
    input.addEventListener("blur", () => {
      if (input.value.trim() !== "") {
        state.touched.add(name);
      }
      refreshErrors(false);
    });
  }

  // A new country relabels the postal field (or hides it) and checks its value by the new rule.
  countrySelect.addEventListener("change", () => {
    applyCountry();
    refreshErrors(false);
    reportChange();
  });

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("focusin", (event) => {
    if (!form.contains(event.relatedTarget)) {
      post({ type: "focus" });
    }
  });
  form.addEventListener("focusout", (event) => {
    if (!form.contains(event.relatedTarget)) {
      post({ type: "blur" });
    }
  });

  let lastHeight = 0;
  function reportSize() {
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      post({ type: "resize", height });
    }
  }
  new ResizeObserver(reportSize).observe(document.body);

  if (!framed && window.parent !== window) {
    form.textContent = "This payment form can only be used by the page that created it.";
    form.setAttribute("aria-busy", "false");
  }
  post({ type: "loaded" });
})();
