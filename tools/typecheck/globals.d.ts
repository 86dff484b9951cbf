// The globals static/js/checkout.js uses, as the page provides them: Stripe.js's `Stripe` (typed
// by Stripe's own package, so the script is checked against the real Stripe.js API, not the
// sandbox's stand-in) and htmx 4.0.1 (static/vendor/htmx/), of which only the calls the script
// makes are declared here.
import type { StripeConstructor } from "@stripe/stripe-js";

/** What htmx.ajax() accepts as its third argument (htmx 4: a target, or a context object). */
interface HtmxAjaxContext {
  source?: Element | string;
  event?: Event;
  target?: Element | string;
  swap?: string;
  select?: string;
  values?: Record<string, unknown> | FormData;
  headers?: Record<string, string>;
}

interface Htmx {
  /** Initialises htmx behaviour (hx-* attributes) on an element and its descendants. */
  process(element: Element | Document): void;
  /** Issues a request as an hx-get/hx-post would, and swaps its response; settles when done. */
  ajax(
    verb: string,
    path: string,
    context?: Element | string | HtmxAjaxContext,
  ): Promise<void>;
  /** Calls back with each element htmx has just processed (new content swapped in). */
  onLoad(callback: (element: Element) => void): void;
}

declare global {
  const Stripe: StripeConstructor;
  const htmx: Htmx;
}

export {};
