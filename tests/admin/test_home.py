"""The back office's home page: today's and this month's paid orders and takings (UTC days,
before refunds), what waits on staff, books running low, and the last 30 days drawn as an SVG
with a table of the same numbers."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from quart import Quart
from sqlalchemy import update

from bookshop.admin import home
from bookshop.money import format_money
from bookshop.orders import Ledger
from bookshop.orders.schema import orders
from bookshop.stock import Stock
from tests.fixtures.app import Client
from tests.orders.intents import ELSEWHERE, HOME, PRICE, intent, paid, refund_event

# The page is read at this moment: its UTC day is 14 March, its month March 2026.
NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def money(amount: int) -> str:
    return format_money(amount, "sgd")


def section(body: str, heading_id: str) -> str:
    """The text of the page's section headed by `heading_id`."""
    start = body.index(f'aria-labelledby="{heading_id}"')
    return body[start : body.index("</section>", start)]


def numbers(text: str) -> list[str]:
    """The terms of a takings list, in order: orders, takings, refunded."""
    return re.findall(r'<dd class="col-5[^"]*">([^<]*)</dd>', text)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(home, "now", lambda: NOW)


async def paid_at(ledger: Ledger, intent_id: str, moment: datetime, quantity: int = 1) -> None:
    """An order paid through the ledger, then dated `moment` (the ledger stamps the present)."""
    await ledger.apply_state(paid(intent_id, quantity=quantity, address=HOME))
    async with ledger.database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == intent_id).values(paid_at=moment)
        )


@pytest.fixture
async def sales(shop: Quart) -> Ledger:
    """Paid orders today, earlier this month, last month inside the chart and long before."""
    ledger: Ledger = shop.extensions["ledger"]
    await paid_at(ledger, "pi_today", datetime(2026, 3, 14, 9, tzinfo=UTC))
    await paid_at(ledger, "pi_midnight", datetime(2026, 3, 14, tzinfo=UTC), quantity=2)
    await ledger.apply_event(refund_event("evt_part", "pi_midnight", 800))
    await paid_at(ledger, "pi_march", datetime(2026, 3, 2, 12, tzinfo=UTC))
    await ledger.apply_event(refund_event("evt_all", "pi_march", PRICE))
    await paid_at(ledger, "pi_february", datetime(2026, 2, 20, 23, 59, tzinfo=UTC), quantity=4)
    await paid_at(ledger, "pi_january", datetime(2026, 1, 2, tzinfo=UTC))
    # Flagged: Stripe's intent ships elsewhere; it waits for review, not for shipping.
    await ledger.apply_state(paid("pi_january", address=ELSEWHERE))
    await ledger.record_payment(intent("pi_unpaid"))
    return ledger


async def test_today_and_this_month_count_paid_orders_by_utc_day_before_refunds(
    sales: Ledger, packer: Client
) -> None:
    response = await packer.get("/admin")

    assert response.status_code == 200
    body = html.unescape(await response.get_data(as_text=True))
    assert "Days are UTC days" in body and "before refunds" in body
    assert numbers(section(body, "today-heading")) == ["2", money(3 * PRICE), money(800)]
    month = section(body, "month-heading")
    assert "March 2026" in month
    assert numbers(month) == ["3", money(4 * PRICE), money(800 + PRICE)]


async def test_what_waits_on_staff_links_to_the_orders_lists(sales: Ledger, packer: Client) -> None:
    body = html.unescape(await (await packer.get("/admin")).get_data(as_text=True))
    waiting = section(body, "waiting-heading")
    assert (
        '<a href="/admin/orders?status=to-ship"><span class="fs-4 fw-semibold">3</span>' in waiting
    )
    assert "paid orders to ship" in waiting
    assert (
        '<a href="/admin/orders?status=needs-review"><span class="fs-4 fw-semibold">1</span>'
        in (waiting)
    )
    assert "order needs review" in waiting


async def test_the_last_30_days_are_drawn_and_listed_in_a_table(
    sales: Ledger, packer: Client
) -> None:
    body = html.unescape(await (await packer.get("/admin")).get_data(as_text=True))
    chart = section(body, "chart-heading")

    svg = chart[chart.index("<svg") : chart.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="takings-chart-title"' in svg
    assert '<title id="takings-chart-title">Takings and paid orders each UTC day, ' in svg
    assert "Fri 13 Feb to Sat 14 Mar" in svg
    assert f"4 paid orders took {money(8 * PRICE)} in these 30 days" in svg
    assert f"the most on Fri 20 Feb: {money(4 * PRICE)} from 1 order" in svg
    assert svg.count("<rect ") == 3  # a bar for each day with takings
    assert svg.count("<circle ") == 30  # a point for each day's orders
    assert "style=" not in chart  # the CSP allows no inline styles

    table = chart[chart.index('<table class="table table-sm mt-2" id="takings-table">') :]
    rows = re.findall(
        r'<time datetime="(\d{4}-\d\d-\d\d)">[^<]*</time></th>\s*'
        r'<td class="text-end">(\d+)</td><td class="text-end price">([^<]*)</td>',
        table,
    )
    assert len(rows) == 30
    assert rows[0] == ("2026-03-14", "2", money(3 * PRICE))  # newest first
    assert rows[-1] == ("2026-02-13", "0", money(0))
    assert ("2026-02-20", "1", money(4 * PRICE)) in rows
    assert ("2026-03-02", "1", money(PRICE)) in rows
    assert "<details>" in chart and "</details>" in chart


async def test_a_shop_without_orders_shows_zeros_and_a_flat_chart(packer: Client) -> None:
    body = html.unescape(await (await packer.get("/admin")).get_data(as_text=True))
    assert numbers(section(body, "today-heading")) == ["0", money(0), money(0)]
    chart = section(body, "chart-heading")
    assert f"0 paid orders took {money(0)} in these 30 days." in chart
    assert "<rect x=" not in chart.split("<figcaption")[0]
    assert "No counted book has 3 or fewer copies left to sell." in body


async def test_books_running_low_are_listed_fewest_first_with_a_link_to_their_stock(
    shop: Quart, packer: Client
) -> None:
    books: Stock = shop.extensions["stock"]
    await books.set("code", 3, "test")
    await books.set("hackers", 4, "test")  # enough
    await books.set("mythical-man-month", 0, "test")
    await books.set("withdrawn-title", 1, "test")

    body = html.unescape(await (await packer.get("/admin")).get_data(as_text=True))
    low = section(body, "low-heading")

    listed = re.findall(
        r'<a href="/admin/stock#stock-([^"]+)">([^<]*)</a>:\s*<span[^>]*>([^<]*)', low
    )
    assert listed == [
        ("mythical-man-month", "The Mythical Man-Month", "sold out"),
        ("withdrawn-title", "withdrawn-title (not in the catalog)", "1 left"),
        ("code", "Code: The Hidden Language of Computer Hardware and Software", "3 left"),
    ]


async def test_the_owner_sees_the_home_page_too(owner: Client) -> None:
    assert (await owner.get("/admin")).status_code == 200
