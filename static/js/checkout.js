// Checkout: mounts the Payment Element once per payment form and runs a payment.
// The card data stays inside Stripe's iframe; this script only ever sees the outcome, and even
// that it does not trust: the server reads the PaymentIntent and renders the result.
(() => {
  "use strict";

  function csrfHeaders() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? { "X-CSRF-Token": meta.content } : {};
  }

  function showTemplate(region, id) {
    const template = document.getElementById(id);
    region.replaceChildren(template.content.cloneNode(true));
    htmx.process(region);
  }

  function mount(form) {
    if (form.dataset.mounted) return;
    form.dataset.mounted = "true";
    form.hidden = false;

    const clientSecret = form.dataset.clientSecret;
    const intentId = clientSecret.split("_secret_")[0];
    const stripe = Stripe(form.dataset.publishableKey);
    const elements = stripe.elements({ clientSecret });
    // The billing address starts in the country the books go to.
    const country = form.dataset.country;
    const defaults = country ? { defaultValues: { billingDetails: { address: { country } } } } : {};
    elements.create("payment", defaults).mount("#payment-element");

    const button = form.querySelector("#pay-button");
    const result = document.getElementById("payment-result");
    const statusUrl = `${form.dataset.statusUrl}?${new URLSearchParams({
      payment_intent: intentId,
      payment_intent_client_secret: clientSecret,
    })}`;
    let busy = false;

    // The server changed the amount (quantity form): the Element must know before confirming.
    document.addEventListener("checkout:amount-changed", () => elements.fetchUpdates());

    function setBusy(on) {
      busy = on;
      button.disabled = on;
      form.setAttribute("aria-busy", String(on));
      result.setAttribute("aria-busy", String(on));
      if (on) showTemplate(result, "spinner-template");
    }

    async function pay() {
      const { error: invalid } = await elements.submit();
      if (invalid) {
        result.replaceChildren(); // the Element shows its own validation message
        return;
      }
      // What this page shows is what the server charges, or it answers with what it would charge.
      const quantity = document.getElementById("quantity");
      const total = document.querySelector("#checkout-summary .total");
      const body = new URLSearchParams({
        email: form.elements.email.value,
        quantity: quantity ? quantity.value : "1",
        lines: total.dataset.lines,
        destination: total.dataset.destination,
        total: total.dataset.amount,
      });
      const prepared = await fetch(form.action, {
        method: "POST",
        body,
        headers: { "HX-Request": "true", ...csrfHeaders() },
        credentials: "same-origin",
      });
      const elsewhere = prepared.headers.get("HX-Redirect");
      if (elsewhere) {
        window.location.assign(elsewhere); // a step to take first (the address)
        return;
      }
      if (prepared.status !== 204) {
        // Our own escaped fragment: an error for the result region, or a fresh summary.
        const target = document.querySelector(prepared.headers.get("HX-Retarget") || "#payment-result");
        target.innerHTML = await prepared.text();
        htmx.process(target);
        if (target !== result) result.replaceChildren();
        return;
      }
      const { error } = await stripe.confirmPayment({
        elements,
        clientSecret,
        confirmParams: {
          return_url: form.dataset.returnUrl,
          receipt_email: form.elements.email.value,
        },
        redirect: "if_required",
      });
      if (error && error.type === "validation_error") {
        result.replaceChildren();
        return;
      }
      // Whatever Stripe.js said, the server decides what happened.
      await htmx.ajax("GET", statusUrl, { target: "#payment-result", swap: "innerHTML" });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return; // a double click never confirms twice
      if (!form.reportValidity()) return;
      setBusy(true);
      try {
        await pay();
      } catch {
        showTemplate(result, "unavailable-template");
      } finally {
        busy = false;
        result.setAttribute("aria-busy", "false");
        form.setAttribute("aria-busy", "false");
        if (document.contains(button)) button.disabled = false;
      }
    });
  }

  function setup(root) {
    const scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("#payment-form").forEach(mount);
  }

  // htmx.onLoad covers checkout markup swapped in later; the direct call covers a plain page load.
  htmx.onLoad(setup);
  setup(document);
})();
