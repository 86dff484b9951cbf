"""End-to-end fixtures: one real shop + sandbox per session, a fresh browser context per shopper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.e2e.servers import RunningShop, running_shop
from tests.e2e.shopper import NewShopper, Shopper
from tests.fixtures.browser import _failed, _save_artifacts, open_page
from tests.fixtures.sandbox import SandboxServer

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    """`python -m bookshop` (and the sandbox it starts) on free ports, for the whole session."""
    with running_shop(tmp_path_factory.mktemp("e2e-shop")) as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shop_on_each_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningShop]:
    """A shop of the test's own with its orders in SQLite, then in PostgreSQL. A module whose
    journeys must hold on both overrides `shop` with it."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with running_shop(tmp_path, database_url=url) as running:
        yield running


@pytest.fixture
def shop_sandbox(shop: RunningShop) -> Iterator[SandboxServer]:
    """The shop's own sandbox, with any faults a test injected turned off afterwards."""
    yield shop.sandbox
    shop.sandbox.set_faults()


@pytest.fixture
def new_shopper(
    browser: Browser,
    shop: RunningShop,
    shop_sandbox: SandboxServer,
    console_log: list[str],
    request: pytest.FixtureRequest,
) -> Iterator[NewShopper]:
    """Open a shopper in a new browser context (options as for `Browser.new_context`)."""
    opened: list[tuple[BrowserContext, Shopper]] = []

    def open_(**context_options: Any) -> Shopper:
        # A new context is a new cookie jar: the shop keys checkouts by session cookie.
        page = open_page(browser, console_log, **{"viewport": DESKTOP, **context_options})
        context = page.context
        shopper = Shopper(page, shop, console_log)
        opened.append((context, shopper))
        return shopper

    try:
        yield open_
    finally:
        failed = _failed(request.node)
        for context, shopper in opened:
            if failed:
                console_log.append(f"--- shop log tail ---\n{shop.log_tail(2000)}")
                _save_artifacts(shopper.page, console_log, request)
            context.close()


@pytest.fixture
def shopper(new_shopper: NewShopper) -> Shopper:
    """A shopper on a desktop-sized page with JavaScript on."""
    return new_shopper()
