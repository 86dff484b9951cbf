"""The sandbox's Quart app factory."""

from __future__ import annotations

from pathlib import Path

from quart import Quart, Response, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from bookshop.sandbox import api, control, errors, stripejs
from bookshop.sandbox.faults import FaultMiddleware, Faults
from bookshop.sandbox.idempotency import IdempotencyCache
from bookshop.sandbox.runtime import SandboxState, state
from bookshop.sandbox.settings import SandboxSettings
from bookshop.sandbox.store import API_VERSION, Store
from bookshop.sandbox.webhooks import Dispatcher

HERE = Path(__file__).parent
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account, "
        "X-Stripe-Client-User-Agent"
    ),
    "Access-Control-Expose-Headers": "Request-Id, Stripe-Version, Idempotent-Replayed",
    "Access-Control-Max-Age": "300",
}


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
        store=Store(),
        faults=faults,
        idempotency=IdempotencyCache(),
        dispatcher=Dispatcher(settings.webhook_retry_schedule, settings.webhook_timeout_s),
    )
    for endpoint in settings.webhooks:
        sandbox.dispatcher.add_endpoint(endpoint)
    sandbox.store.listeners.append(sandbox.dispatcher.publish)
    app.extensions["sandbox"] = sandbox

    app.register_blueprint(api.blueprint)
    app.register_blueprint(control.blueprint)
    app.register_blueprint(stripejs.blueprint)

    @app.before_serving
    async def start_webhooks() -> None:
        await state().dispatcher.start()

    @app.after_serving
    async def stop_webhooks() -> None:
        await state().dispatcher.stop()

    @app.before_request
    async def preflight() -> Response | None:
        # Stripe.js calls the API from the shop's origin, so the browser asks first.
        if request.method == "OPTIONS" and _is_api(request.path):
            return Response("", status=204)
        return None

    @app.after_request
    async def api_headers(response: Response) -> Response:
        if _is_api(request.path):
            response.headers.update(CORS_HEADERS)
            response.headers["Request-Id"] = api.request_id()
            response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
            response.headers["Cache-Control"] = "no-cache, no-store"
        return response

    @app.errorhandler(NotFound)
    async def not_found(error: NotFound) -> Response | NotFound:
        if request.path.startswith("/v1/"):
            return api.error_response(errors.unrecognized_url(request.method, request.path), None)
        return error

    @app.errorhandler(MethodNotAllowed)
    async def not_allowed(error: MethodNotAllowed) -> Response | MethodNotAllowed:
        if request.path.startswith("/v1/"):
            return api.error_response(errors.unrecognized_url(request.method, request.path), None)
        return error

    app.asgi_app = FaultMiddleware(app.asgi_app, faults)  # type: ignore[assignment]
    return app


def _is_api(path: str) -> bool:
    return path.startswith(("/v1/", "/_sandbox/3ds/"))
