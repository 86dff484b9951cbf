"""The benchmark's bare baseline (tests/perf/baseline.py) renders the shop's templates: a change
to them that the baseline cannot serve would leave `make bench` measuring 500s."""

from __future__ import annotations

import pytest

from bookshop import create_app
from bookshop.config import Settings
from tests.fixtures.sandbox import SandboxServer
from tests.perf import baseline


async def test_the_baseline_serves_the_shop_page_and_its_grid(
    sandbox: SandboxServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    # The benchmark starts the shop first, which migrates the database and fills the catalog.
    async with create_app(settings).test_app():
        pass
    app = baseline.create_app()
    async with app.test_app() as served:
        client = served.test_client()
        page = await client.get("/")
        grid = await client.get("/", headers={"HX-Request": "true"})
        assert (page.status_code, grid.status_code) == (200, 200)
        assert 'rel="canonical"' in await page.get_data(as_text=True)
        assert "Add to cart" in await grid.get_data(as_text=True)
