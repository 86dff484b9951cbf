// Checkout: mounts the Payment Element (before any PaymentIntent exists) and runs a payment.
// The card data stays inside Stripe's iframe: this script turns it into a ConfirmationToken and
// sends only the token's id to the shop, which checks the order, creates and confirms the
// PaymentIntent itself, and answers with the result to show.
(() => {
  "use strict";

  /** @returns {Record<string, string>} */
  function csrfHeaders() {
    const meta = /** @type {HTMLMetaElement | null} */ (
      document.querySelector('meta[name="csrf-token"]')
    );
    return meta ? { "X-CSRF-Token": meta.content } : {};
  }

  /**
   * Show a server-rendered partial kept in a <template>, and say its text in the page's live
   * region: the polite one, or the assertive one for a problem.
   * @param {Element} region
   * @param {string} id
   * @param {boolean} [urgent]
   */
  function showTemplate(region, id, urgent = false) {
    const template = /** @type {HTMLTemplateElement} */ (document.getElementById(id));
    region.replaceChildren(template.content.cloneNode(true));
    htmx.process(region);
    say(region.querySelector("p, .spinner-text")?.textContent || "", urgent);
  }

  /**
   * @param {string} text
   * @param {boolean} [urgent]
   */
  function say(text, urgent = false) {
    const live = document.getElementById(urgent ? "live-alert" : "live-status");
    if (live) live.textContent = text;
  }

  /** What the summary on the page charges now: the server renders it after every change. */
  function shownTotal() {
    return /** @type {HTMLElement} */ (document.querySelector("#checkout-summary .total"));
  }

  /** @param {HTMLFormElement} form */
  function mount(form) {
    if (form.dataset.mounted) return;
    form.dataset.mounted = "true";
    form.hidden = false;

    const stripe = Stripe(form.dataset.publishableKey || "");
    if (!stripe) return;
    const elements = stripe.elements({
      mode: "payment",
      amount: Number(form.dataset.amount),
      currency: form.dataset.currency || "",
    });
    // The billing address starts in the country the books go to.
    const country = form.dataset.country;
    elements
      .create("payment", country ? { defaultValues: { billingDetails: { address: { country } } } } : {})
      .mount("#payment-element");

    const button = /** @type {HTMLButtonElement} */ (form.querySelector("#pay-button"));
    const result = /** @type {HTMLElement} */ (document.getElementById("payment-result"));
    const email = /** @type {HTMLInputElement} */ (form.elements.namedItem("email"));
    let busy = false;
    let processing = ""; // what the polite region said when this attempt began

    // The quantity changed (the server swapped in a new summary): the Element shows its amount.
    document.addEventListener("checkout:amount-changed", () => {
      elements.update({ amount: Number(shownTotal().dataset.amount) });
    });

    /**
     * While a payment runs, Pay says it is unavailable but keeps the keyboard's focus (a
     * disabled button would drop it to the page).
     * @param {boolean} on
     */
    function setBusy(on) {
      busy = on;
      button.setAttribute("aria-disabled", String(on));
      const status = document.getElementById("live-status");
      if (on) {
        say("", true); // the last attempt's decline no longer holds, and a repeat of it is news
        showTemplate(result, "spinner-template");
        processing = status?.textContent || "";
      } else if (status && status.textContent === processing) {
        say(""); // over: "Processing… don't close this page" would be a stale claim
      }
    }

    async function pay() {
      const { error: invalid } = await elements.submit();
      if (invalid) {
        result.replaceChildren(); // the Element shows (and says) its own validation message
        say("");
        return;
      }
      const { error, confirmationToken } = await stripe.createConfirmationToken({ elements });
      if (error || !confirmationToken) {
        if (error && error.type === "validation_error") {
          result.replaceChildren();
          say("");
        } else showTemplate(result, "unavailable-template", true);
        return;
      }
      // What this page shows is what the server charges, or it answers with what it would charge.
      const quantity = /** @type {HTMLSelectElement | null} */ (document.getElementById("quantity"));
      const total = shownTotal();
      // The shop's answer is its own escaped fragment, swapped in by htmx as it says: the
      // receipt, a decline, a fresh summary (409), or a step to take first (HX-Redirect).
      await htmx.ajax("POST", form.action, {
        target: "#payment-result",
        swap: "innerHTML",
        values: {
          email: email.value,
          quantity: quantity ? quantity.value : "1",
          lines: total.dataset.lines || "",
          destination: total.dataset.destination || "",
          total: total.dataset.amount || "",
          confirmation_token: confirmationToken.id,
        },
        headers: csrfHeaders(),
      });
      const next = /** @type {HTMLElement | null} */ (
        document.querySelector("#payment-result [data-next-action]")
      );
      if (!next && result.querySelector(".payment-spinner")) {
        result.replaceChildren(); // the answer went elsewhere (a fresh summary, which says why)
      }
      if (next) {
        // 3D Secure: Stripe.js shows the bank's challenge; then the server reads the outcome.
        await stripe.handleNextAction({ clientSecret: next.dataset.clientSecret || "" });
        await htmx.ajax("GET", next.dataset.statusUrl || "", {
          target: "#payment-result",
          swap: "innerHTML",
        });
      }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return; // a double click never pays twice
      if (!form.reportValidity()) return;
      setBusy(true);
      try {
        await pay();
      } catch {
        showTemplate(result, "unavailable-template", true);
      } finally {
        setBusy(false);
      }
    });
  }

  /** @param {Element | Document} [root] */
  function setup(root) {
    const scope = root && "querySelectorAll" in root ? root : document;
    scope.querySelectorAll("#payment-form").forEach((form) => mount(/** @type {HTMLFormElement} */ (form)));
  }

  // htmx.onLoad covers checkout markup swapped in later; the direct call covers a plain page load.
  htmx.onLoad(setup);
  setup(document);
})();
