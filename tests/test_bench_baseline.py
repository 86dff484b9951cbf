"""The benchmark's bare baseline (tests/perf/baseline.py) renders the shop's templates and pays
through the shop's gateway: a change to either that the baseline cannot serve would leave
`make bench` measuring 500s."""

from __future__ import annotations

import httpx
import pytest

from bookshop import create_app
from bookshop.config import Settings
from bookshop.sandbox.settings import DEFAULT_SECRET_KEY
from tests.fixtures.sandbox import SandboxServer
from tests.perf import baseline


async def test_the_baseline_serves_the_shop_page_its_grid_checkout_and_pay_step(
    sandbox: SandboxServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    # The benchmark starts the shop first, which migrates the database and fills the catalog.
    async with create_app(settings).test_app():
        pass
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as stripe:
        made = await stripe.post(
            "/v1/test_helpers/confirmation_tokens",
            data={"payment_method": "pm_card_visa"},
            auth=(DEFAULT_SECRET_KEY, ""),
        )
    made.raise_for_status()
    app = baseline.create_app()
    async with app.test_app() as served:
        client = served.test_client()
        page = await client.get("/")
        grid = await client.get("/", headers={"HX-Request": "true"})
        checkout = await client.get("/checkout")
        paid = await client.post(
            "/checkout/pay",
            form={"email": "reader@example.com", "confirmation_token": made.json()["id"]},
            headers={"HX-Request": "true"},
        )
        statuses = (page.status_code, grid.status_code, checkout.status_code, paid.status_code)
        assert statuses == (200, 200, 200, 200)
        assert 'rel="canonical"' in await page.get_data(as_text=True)
        assert "Add to cart" in await grid.get_data(as_text=True)
        assert 'class="total" data-amount=' in await checkout.get_data(as_text=True)
        assert 'data-outcome="succeeded"' in await paid.get_data(as_text=True)
