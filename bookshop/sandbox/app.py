"""The sandbox's Quart app factory."""

from __future__ import annotations

from pathlib import Path

from quart import Quart, Response, request

from bookshop import compression
from bookshop.sandbox import api, control, dashboard, stripejs
from bookshop.sandbox.faults import FaultMiddleware, Faults
from bookshop.sandbox.idempotency import IdempotencyCache
from bookshop.sandbox.runtime import SandboxState, state
from bookshop.sandbox.settings import SandboxSettings
from bookshop.sandbox.store import Store
from bookshop.sandbox.webhooks import Dispatcher

HERE = Path(__file__).parent
# The 3D Secure page posts its verdict from the shop's origin, as a Stripe.js call would.
THREE_D_SECURE = "/_sandbox/3ds/"


def create_sandbox_app(settings: SandboxSettings | None = None) -> Quart:
    """Build a sandbox with empty state; nothing is shared between apps."""
    settings = settings or SandboxSettings()
    app = Quart(
        __name__,
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
    )
    faults = Faults(settings.latency_ms, settings.fail_rate, settings.fail_mode)
    sandbox = SandboxState(
        settings=settings,
        store=Store(settings.confirmation_token_lifetime_s),
        faults=faults,
        idempotency=IdempotencyCache(),
        dispatcher=Dispatcher(settings.webhook_retry_schedule, settings.webhook_timeout_s),
    )
    for endpoint in settings.webhooks:
        sandbox.dispatcher.add_endpoint(endpoint)
    sandbox.store.listeners.append(sandbox.dispatcher.publish)
    app.extensions["sandbox"] = sandbox

    app.register_blueprint(control.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(stripejs.blueprint)
    # Stripe serves Stripe.js compressed; so does its stand-in, or the checkout would measure
    # slower here than with Stripe.
    compression.install(app, ())

    @app.before_serving
    async def start_webhooks() -> None:
        await state().dispatcher.start()

    @app.after_serving
    async def stop_webhooks() -> None:
        await state().dispatcher.stop()

    @app.before_request
    async def preflight() -> Response | None:
        # The browser asks before it posts cross-origin.
        if request.method == "OPTIONS" and request.path.startswith(THREE_D_SECURE):
            return Response("", status=204)
        return None

    @app.after_request
    async def cors_headers(response: Response) -> Response:
        if request.path.startswith(THREE_D_SECURE):
            response.headers.update(api.CORS_HEADERS)
            response.headers["Request-Id"] = control.request_id()
            response.headers["Cache-Control"] = "no-cache, no-store"
        return response

    # `/v1/*` is served by the API in front of Quart, behind the injected faults.
    app.asgi_app = FaultMiddleware(api.Api(app.asgi_app, sandbox), faults)  # type: ignore[assignment]
    return app
