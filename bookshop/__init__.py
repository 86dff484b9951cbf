"""The bookshop: an async storefront that takes card payments with Stripe."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Nothing of the shop at module level: `import bookshop.sandbox` (a process of its own) must not
# load the shop's settings, database or Babel. `create_app` imports what it needs.
if TYPE_CHECKING:
    from quart import Quart

    from bookshop.config import Settings


def create_app(settings: Settings | None = None) -> Quart:
    """Build the shop; with no settings, read them from the environment (and .env)."""
    import asyncio
    from functools import partial

    from quart import Quart

    from bookshop.config import load_settings

    if settings is None:
        from dotenv import load_dotenv

        load_dotenv()
        settings = load_settings()

    from flask.templating import (
        _default_template_ctx_processor as flask_default_context_processor,
    )

    from bookshop import (
        address,
        admin,
        assets,
        caching,
        cart,
        checkout,
        cli,
        compression,
        errors,
        htmx,
        metrics,
        security,
        seo,
        shop,
        webhooks,
    )
    from bookshop.admin import sessions as staff_sessions
    from bookshop.admin.accounts import Accounts
    from bookshop.catalog import Catalog
    from bookshop.health import HealthCheck
    from bookshop.mail.sender import Sender
    from bookshop.money import format_money
    from bookshop.orders import Ledger
    from bookshop.payments import Payments
    from bookshop.proxies import TrustedProxies
    from bookshop.server import freeze_startup_objects
    from bookshop.shipping import default_rates
    from bookshop.stock import keeper

    # Static files are served by `assets` (fingerprinted, compressed once), not by Quart.
    app = Quart(__name__, template_folder="../templates", static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TEMPLATES_AUTO_RELOAD=settings.env == "development",
    )
    app.extensions["settings"] = settings
    app.jinja_env.filters["money"] = lambda amount: format_money(
        amount, settings.currency, settings.locale
    )
    app.jinja_env.filters["money_in"] = lambda amount, currency: format_money(
        amount, currency, settings.locale
    )
    app.jinja_env.globals["settings"] = settings
    app.jinja_env.globals["cart_count"] = cart.cart_count
    app.jinja_env.globals["country_name"] = lambda code: address.country_name(code, settings.locale)

    # A mistake in shipping.toml stops the shop here, not at a shopper's address step.
    default_rates()
    gateway = Payments(settings)
    app.extensions["payments"] = gateway

    orders = Ledger(settings.database_url)
    app.extensions["ledger"] = orders
    books = Catalog(orders.database)
    app.extensions["catalog"] = books
    app.extensions["stock"] = orders.stock
    staff_sessions.install(app, settings, Accounts(orders.database))

    @app.before_serving
    async def start() -> None:
        await orders.open()
        await books.seed(settings.catalog_seed)
        # Not for tests: their many short-lived apps share one process (and run the keeper's
        # rounds themselves, with the clock where they want it).
        if settings.env != "test":
            app.extensions["keeper"] = asyncio.create_task(keeper.run(orders, gateway))
            app.extensions["sender"] = asyncio.create_task(Sender(orders.database, settings).run())
            freeze_startup_objects()

    @app.after_serving
    async def stop() -> None:
        # The tasks end before the database closes: one cancelled mid-query still needs it to
        # hand its connection back, and waits for that forever once it is gone.
        running = [
            task for name in ("keeper", "sender") if (task := app.extensions.pop(name, None))
        ]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        gateway.close()
        await orders.close()

    assets.install(app)
    caching.install(app)
    errors.register_error_pages(app)
    htmx.install(app)
    app.register_blueprint(shop.blueprint)
    app.register_blueprint(seo.blueprint)
    app.register_blueprint(cart.blueprint)
    app.register_blueprint(checkout.blueprint)
    admin.install(app)
    # No secret, no endpoint: an unverified webhook would let anyone mark orders paid.
    if settings.stripe_webhook_secret:
        app.register_blueprint(webhooks.blueprint)
    cli.register(app, settings)
    security.install(app, settings)
    compression.install(app, security.uncompressed_endpoints(app))
    metrics.install(app, settings)
    app.asgi_app = HealthCheck(  # type: ignore[method-assign]
        app.asgi_app, partial(security.security_headers, settings)
    )
    if settings.trusted_proxies:
        # Outermost, so the health check's headers (HSTS) see the scheme the proxy was asked in.
        app.asgi_app = TrustedProxies(app.asgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    # Each blueprint brings Flask's synchronous default context processor, which Quart runs in a
    # worker thread on every render only to find nothing (Quart's own async one fills the context).
    for processors in app.template_context_processors.values():
        processors[:] = [p for p in processors if p is not flask_default_context_processor]
    return app
