/*
 * The sandbox's 3D Secure challenge. The shopper picks the outcome; the page tells the sandbox
 * (same origin) and hands the authenticated intent to the Stripe.js script in the host page.
 */
(() => {
  "use strict";

  const MESSAGE_PREFIX = "stripe-sandbox:";
  const main = document.getElementById("challenge");
  const status = document.getElementById("challenge-status");
  const buttons = Array.from(document.querySelectorAll("button[data-result]"));
  const query = new URLSearchParams(window.location.search);
  const clientSecret = query.get("client_secret") || "";

  // Post only to the origin that opened the challenge, so the intent never leaks to another page.
  const parentOrigin = (() => {
    try {
      const origin = new URL(query.get("origin") || "").origin;
      const ancestors = window.location.ancestorOrigins;
      return ancestors && ancestors.length && ancestors[0] !== origin ? null : origin;
    } catch (_) {
      return null;
    }
  })();

  function post(message) {
    if (window.parent !== window && parentOrigin) {
      window.parent.postMessage(MESSAGE_PREFIX + JSON.stringify(message), parentOrigin);
    }
  }

  async function authenticate(result) {
    buttons.forEach((button) => {
      button.disabled = true;
    });
    status.textContent = "";
    try {
      const response = await fetch(`/_sandbox/3ds/${encodeURIComponent(main.dataset.intent)}`, {
        method: "POST",
        body: new URLSearchParams({ client_secret: clientSecret, result }),
        credentials: "omit",
      });
      const body = await response.json();
      if (!response.ok || !body || body.object !== "payment_intent") {
        const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
        throw new Error(message);
      }
      status.setAttribute("role", "status");
      status.textContent = result === "approve" ? "Authentication complete." : "Authentication failed.";
      post({ type: "3ds-complete", paymentIntent: body });
    } catch (err) {
      // Leave the buttons usable: the shopper can try again, as with a flaky bank page.
      status.textContent = `The sandbox could not record the authentication (${err.message}). Try again.`;
      buttons.forEach((button) => {
        button.disabled = false;
      });
    }
  }

  buttons.forEach((button) => {
    button.addEventListener("click", () => authenticate(button.dataset.result));
  });
  new ResizeObserver(() => {
    post({ type: "3ds-resize", height: Math.ceil(document.body.getBoundingClientRect().height) });
  }).observe(document.body);
  buttons[0].focus();
})();
