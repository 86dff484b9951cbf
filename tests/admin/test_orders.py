"""The back office's orders: the list (each filter, searches, pages, the htmx table), its CSV
export with formulas neutralised, and an order's page with its payment, address and timeline,
whether or not Stripe answers; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from quart import Quart
from sqlalchemy import update

from bookshop.address import Address
from bookshop.admin import audit
from bookshop.orders import Ledger
from bookshop.orders.listing import FILTERS
from bookshop.orders.schema import orders
from tests.checkout.steps import pushed_intent
from tests.fixtures.app import BOOKS, HTMX, Client
from tests.fixtures.live import said
from tests.fixtures.paying import VISA, press_pay
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.staff import STAFF_EMAIL
from tests.orders.intents import ELSEWHERE, HOME, PRICE, event, intent, paid, refund_event, state

# When the tests' orders were made: in the past, as every order is when staff see it.
START = 1_700_000_000
MONEY = "32.00\xa0SGD"  # PRICE as the pages show it


async def pay(shopper: Client, sandbox: SandboxServer) -> str:
    """A shopper pays for a copy of "code" by card, delivered to Singapore: the intent's id."""
    paid = await press_pay(shopper, sandbox, "/checkout/code", VISA)
    assert paid.status_code == 200, await paid.get_data(as_text=True)
    return pushed_intent(paid)


def ledger_of(app: Quart) -> Ledger:
    """The shop's orders ledger."""
    found: Ledger = app.extensions["ledger"]
    return found


async def placed(
    app: Quart,
    intent_id: str,
    status: str = "open",
    *,
    minute: int = 0,
    email: str = "ada@example.com",
    address: Address | None = HOME,
) -> None:
    """An order of one copy of "code", created `minute` minutes after START, moved on to
    `status` (open, failed, canceled or paid) as Stripe would tell the ledger."""
    ledger = ledger_of(app)
    when = START + 60 * minute
    await ledger.record_payment(intent(intent_id, created=when, email=email, address=address))
    if status == "failed":
        await ledger.apply_state(
            state(
                intent_id,
                "requires_payment_method",
                decline_code="card_declined",
                email=email,
                address=address,
            )
        )
    elif status == "canceled":
        await ledger.apply_state(state(intent_id, "canceled", email=email, address=address))
    elif status == "paid":
        await ledger.apply_state(paid(intent_id, email=email, address=address, created=when))


async def change(app: Quart, intent_id: str, **values: object) -> None:
    """Set what the back office's own actions set (shipping, review), as they would."""
    async with ledger_of(app).database.transaction() as connection:
        await connection.execute(
            update(orders).where(orders.c.intent_id == intent_id).values(values)
        )


def timeline_of(body: str) -> list[tuple[str, str]]:
    """What an order's timeline says happened, oldest first, and who did it (as text)."""
    found = []
    for row in re.findall(r'<tr class="timeline-entry">(.*?)</tr>', body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        what, who = (" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in cells[1:])
        found.append((what, who))
    return found


def listed(body: str) -> list[str]:
    """The payment ids of the orders a list shows, in order."""
    return re.findall(r'class="order-row" data-intent="(pi_[A-Za-z0-9_]+)"', body)


async def text(client: Client, url: str, headers: dict[str, str] | None = None) -> str:
    response = await client.get(url, headers=headers or {})
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_data(as_text=True)


@pytest.fixture
async def every_kind(shop: Quart) -> Quart:
    """The shop with an order in each state the filters tell apart, a minute apart."""
    await placed(shop, "pi_open", minute=0, email="open@example.com")
    await placed(shop, "pi_failed", "failed", minute=1, email="failed@example.com")
    await placed(shop, "pi_canceled", "canceled", minute=2, email="canceled@example.com")
    await placed(shop, "pi_paid", "paid", minute=3, email="paid@example.com")
    await placed(shop, "pi_refunded", "paid", minute=4, email="refunded@example.com")
    await ledger_of(shop).apply_event(refund_event("evt_refund", "pi_refunded", PRICE))
    await placed(shop, "pi_review", "paid", minute=5, email="review@example.com")
    await ledger_of(shop).apply_state(
        paid("pi_review", address=ELSEWHERE, email="review@example.com")
    )
    await placed(shop, "pi_shipped", "paid", minute=6, email="Shipped@Example.com")
    await change(shop, "pi_shipped", shipped_at=datetime.now(UTC), carrier="SingPost")
    return shop


async def test_staff_see_the_orders_newest_first_with_email_status_total_and_a_link(
    every_kind: Quart, packer: Client
) -> None:
    body = await text(packer, "/admin/orders")

    assert listed(body) == [
        "pi_shipped",
        "pi_review",
        "pi_refunded",
        "pi_paid",
        "pi_canceled",
        "pi_failed",
        "pi_open",
    ]
    row = body[body.index('data-intent="pi_paid"') :].split("</tr>")[0]
    assert "paid@example.com" in row and MONEY in row
    assert '<span class="badge text-bg-primary">to ship</span>' in row
    assert 'href="/admin/orders/pi_paid"' in row
    assert "2023-11-14 22:16" in row  # created, START + 3 minutes, in UTC
    shipped = body[body.index('data-intent="pi_shipped"') :].split("</tr>")[0]
    assert 'badge text-bg-success">shipped' in shipped and "to ship" not in shipped
    review = body[body.index('data-intent="pi_review"') :].split("</tr>")[0]
    assert "needs review" in review and "to ship" not in review
    assert "Orders 1\u20137 of 7" in body
    assert 'aria-current="page">All</a>' in body


async def test_each_status_filter_shows_its_orders_by_link_and_by_select(
    every_kind: Quart, packer: Client
) -> None:
    expected = {
        "to-ship": ["pi_paid"],
        "shipped": ["pi_shipped"],
        "refunded": ["pi_refunded"],
        "needs-review": ["pi_review"],
        "awaiting-payment": ["pi_failed", "pi_open"],
        "canceled": ["pi_canceled"],
    }
    assert set(expected) == set(FILTERS) - {"all"}
    everything = await text(packer, "/admin/orders")
    assert len(listed(everything)) == 7
    for status, found in expected.items():
        # The plain link is the select's value as a URL.
        assert f'href="/admin/orders?status={status}"' in everything
        body = await text(packer, f"/admin/orders?status={status}")

        assert listed(body) == found, status
        assert f'<option value="{status}" selected>' in body
        assert f'aria-current="page">{FILTERS[status]}</a>' in body


async def test_a_search_finds_an_email_by_part_whatever_its_case_and_a_payment_by_its_id(
    every_kind: Quart, packer: Client
) -> None:
    assert listed(await text(packer, "/admin/orders?q=SHIPPED%40example")) == ["pi_shipped"]
    assert listed(await text(packer, "/admin/orders?q=+pi_review+")) == ["pi_review"]
    # Within a filter, and the status links keep the search.
    body = await text(packer, "/admin/orders?status=awaiting-payment&q=failed")
    assert listed(body) == ["pi_failed"]
    assert 'href="/admin/orders?q=failed&amp;status=to-ship"' in body
    assert 'value="failed"' in body  # the search box keeps it
    nothing = await text(packer, "/admin/orders?q=nobody%40example.com")
    assert listed(nothing) == [] and "No orders match." in nothing


async def test_the_list_shows_each_orders_number_and_finds_one_as_people_type_it(
    every_kind: Quart, packer: Client
) -> None:
    order = await ledger_of(every_kind).get("pi_paid")
    assert order is not None
    body = await text(packer, "/admin/orders")
    row = body[body.index('data-intent="pi_paid"') :].split("</tr>")[0]
    assert f'<a class="order-number" href="/admin/orders/pi_paid">{order.number}</a>' in row

    typed = "bk " + order.number.removeprefix("BK-").lower()
    for headers in ({}, HTMX):
        found = await text(packer, f"/admin/orders?q={typed.replace(' ', '+')}", headers)
        assert listed(found) == ["pi_paid"], headers
        assert ("<html" in found) is (not headers)


async def test_orders_come_50_a_page_with_plain_previous_and_next_links(
    shop: Quart, packer: Client
) -> None:
    for number in range(51):
        await placed(shop, f"pi_{number:03d}", minute=number)

    first = await text(packer, "/admin/orders")
    second = await text(packer, "/admin/orders?page=2")

    assert len(listed(first)) == 50 and listed(first)[0] == "pi_050"
    assert 'href="/admin/orders?page=2" rel="next"' in first and 'rel="prev"' not in first
    assert "Page 1 of 2" in first
    assert listed(second) == ["pi_000"]
    assert 'href="/admin/orders" rel="prev"' in second and 'rel="next"' not in second
    assert "Orders 51\u201351 of 51" in second


async def test_htmx_gets_the_table_alone_with_the_lists_url_pushed(
    every_kind: Quart, packer: Client
) -> None:
    page = await packer.get("/admin/orders?status=to-ship&q=")
    fragment = await packer.get("/admin/orders?status=to-ship&q=", headers=HTMX)
    page_body = await page.get_data(as_text=True)
    fragment_body = await fragment.get_data(as_text=True)

    assert "<html" in page_body and 'id="orders-results"' in page_body
    assert 'hx-get="/admin/orders"' in page_body and 'hx-target="#orders-results"' in page_body
    assert "HX-Push-Url" not in page.headers
    assert fragment.status_code == 200
    assert "<html" not in fragment_body and "<form" not in fragment_body
    assert listed(fragment_body) == listed(page_body) == ["pi_paid"]
    assert said(fragment_body) == "Orders 1\u20131 of 1 · To ship." and said(page_body) is None
    assert fragment.headers["HX-Push-Url"] == "/admin/orders?status=to-ship"
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in page.headers["Vary"]
    # A page link swaps the table too, and pushes its own URL.
    for number in range(51):
        await placed(every_kind, f"pi_more{number:03d}", minute=100 + number)
    next_page = await packer.get("/admin/orders?page=2", headers=HTMX)
    assert next_page.headers["HX-Push-Url"] == "/admin/orders?page=2"
    assert 'hx-get="/admin/orders" hx-target="#orders-results">Previous' in (
        await next_page.get_data(as_text=True)
    )


# Bad queries of the list, the status they get and what they say.
REFUSED = [
    ("status=bogus", 400, "Orders can be filtered by status: all, to-ship, shipped"),
    ("status=paid", 400, "Orders can be filtered by status: all, to-ship, shipped"),
    ("page=0", 400, "The page must be a whole number, 1 or more."),
    ("page=-1", 400, "The page must be a whole number, 1 or more."),
    ("page=two", 400, "The page must be a whole number, 1 or more."),
    ("page=%C2%B2", 400, "The page must be a whole number, 1 or more."),  # a superscript 2
    ("page=1234567", 400, "The page must be a whole number, 1 or more."),
    ("q=" + "a" * 255, 400, "A search can be at most 254 characters long."),
    ("page=3", 404, "There is no page 3 of these orders: they end at page 1."),
]


async def test_a_bad_filter_or_page_is_refused_with_a_clear_message(
    shop: Quart, packer: Client
) -> None:
    for query, status, message in REFUSED:
        for url in ("/admin/orders", "/admin/orders.csv"):
            if url.endswith(".csv") and query.startswith("page"):
                continue  # an export has no pages
            for headers in ({}, HTMX):
                response = await packer.get(f"{url}?{query}", headers=headers)

                assert response.status_code == status, (query, url, headers)
                assert message in await response.get_data(as_text=True), (query, url)


async def test_the_csv_export_holds_the_filtered_orders_with_formulas_neutralised(
    shop: Quart, packer: Client
) -> None:
    await placed(
        shop,
        "pi_formula",
        "paid",
        minute=1,
        email="=cmd@example.com",
        address=replace(HOME, name='=HYPERLINK("http://evil.example","Click")'),
    )
    await placed(
        shop,
        "pi_plus",
        "paid",
        minute=2,
        email="plus@example.com",
        address=replace(HOME, name="+61 2 9999 0000"),
    )
    await placed(
        shop,
        "pi_at",
        "paid",
        minute=3,
        email="at@example.com",
        address=replace(HOME, name="@SUM(1+1)"),
    )
    await placed(
        shop,
        "pi_tab",
        "paid",
        minute=4,
        email="tab@example.com",
        address=replace(HOME, name="\t-2+3"),
    )
    await placed(shop, "pi_unpaid", minute=5, email="unpaid@example.com")
    await change(
        shop,
        "pi_plus",
        shipped_at=datetime(2027, 1, 20, 9, 30, tzinfo=UTC),
        carrier="-SingPost",
        tracking_number="RR123456789SG",
    )

    response = await packer.get("/admin/orders.csv?status=to-ship")
    everything = await packer.get("/admin/orders.csv")

    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date().isoformat()
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="orders-to-ship-{today}.csv"'
    )
    assert everything.headers["Content-Disposition"] == f'attachment; filename="orders-{today}.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.get_data(as_text=True)
    assert body.startswith("\ufeff")  # so Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0] == [
        "order number",
        "intent id",
        "created",
        "paid",
        "status",
        "email",
        "name",
        "total",
        "refunded",
        "currency",
        "shipped",
        "carrier",
        "tracking",
        "lines",
    ]
    by_id = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(by_id) == ["pi_tab", "pi_at", "pi_formula"]  # to ship, newest first
    formula = by_id["pi_formula"]
    numbered = await ledger_of(shop).get("pi_formula")
    assert numbered is not None and formula["order number"] == numbered.number
    assert formula["name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert formula["email"] == "'=cmd@example.com"
    assert by_id["pi_at"]["name"] == "'@SUM(1+1)"
    assert by_id["pi_tab"]["name"] == "'\t-2+3"
    assert formula["created"] == "2023-11-14T22:14:20+00:00"
    assert formula["paid"].startswith(today)
    assert (formula["status"], formula["total"], formula["refunded"], formula["currency"]) == (
        "paid",
        "32.00",
        "0.00",
        "SGD",
    )
    assert formula["lines"] == f"1 x {BOOKS['code'].title}"
    assert (formula["shipped"], formula["carrier"], formula["tracking"]) == ("", "", "")
    # Every page, all statuses, and a shipped order's carrier neutralised too.
    all_rows = list(csv.reader(io.StringIO((await everything.get_data(as_text=True))[1:])))
    shipped = next(row for row in all_rows if row[1] == "pi_plus")
    assert shipped[6] == "'+61 2 9999 0000"
    assert shipped[10:13] == ["2027-01-20T09:30:00+00:00", "'-SingPost", "RR123456789SG"]
    assert len(all_rows) == 1 + 5


async def test_the_list_links_to_the_export_of_what_it_shows(
    every_kind: Quart, packer: Client
) -> None:
    body = await text(packer, "/admin/orders?status=awaiting-payment&q=example")

    assert 'href="/admin/orders.csv?q=example&amp;status=awaiting-payment" download' in body
    assert "(all 2, every page)" in body


async def test_an_orders_page_shows_its_lines_address_payment_and_timeline(
    shop: Quart, shopper: Client, sandbox: SandboxServer, packer: Client
) -> None:
    intent_id = await pay(shopper, sandbox)
    database = ledger_of(shop).database
    async with database.transaction() as connection:
        await audit.record(
            connection,
            database,
            audit.Actor(STAFF_EMAIL, "127.0.0.1"),
            "marked shipped",
            f"order {intent_id}",
            before={"carrier": None},
            after={"carrier": "SingPost"},
        )

    body = await text(packer, f"/admin/orders/{intent_id}")

    order = await ledger_of(shop).get(intent_id)
    assert order is not None
    assert f'Order <span class="order-number">{order.number}</span></h1>' in body
    assert f"<title>Order {order.number} \u2013 Bookshop back office</title>" in body
    assert f"payment <code>{intent_id}</code>" in body
    line = body[body.index('class="order-line" data-book="code"') :].split("</tr>")[0]
    # 29.00 SGD a copy, 3.00 SGD to deliver.
    assert BOOKS["code"].title in line and ">1</td>" in line and line.count("29.00\xa0SGD") == 2
    assert 'order-shipping">3.00\xa0SGD' in body and 'order-total">32.00\xa0SGD' in body
    assert "Ada Reader<br>1 Straits View<br>#12-01<br>Singapore 018937<br>Singapore" in body
    assert "reader@example.com" in body
    # The payment, read from Stripe (the sandbox) now.
    assert "Visa ending 4242" in body
    charge_id = re.search(r'<code class="charge-id">(ch_[A-Za-z0-9]+)</code>', body)
    assert charge_id, "the charge's id"
    assert 'payment-refunded">0.00\xa0SGD' in body
    assert "View in Stripe's dashboard" not in body  # the sandbox has no dashboard
    assert "payment-problem" not in body
    # The timeline, oldest first: created, paid, then the staff action with who did it.
    timeline = timeline_of(body)
    assert timeline[0] == ("Order created 32.00 SGD", "shopper")
    assert ("Paid 32.00 SGD", "shopper") in timeline
    assert timeline[-1] == ("Marked shipped carrier: None → SingPost", STAFF_EMAIL)
    # And the order's audit entries, as the audit log shows them.
    staff_actions = body[body.index('id="staff-actions-heading"') :]
    assert '<tr class="audit-entry">' in staff_actions and "marked shipped" in staff_actions
    assert "to ship" in body and 'id="order-review"' not in body


async def test_an_orders_page_lists_the_refunds_stripe_has_made(
    shop: Quart, shopper: Client, sandbox: SandboxServer, packer: Client
) -> None:
    intent_id = await pay(shopper, sandbox)
    # Refunded in Stripe's dashboard: the ledger has heard nothing of it yet.
    refund = sandbox.client().v1.refunds.create(
        params={"payment_intent": str(intent_id), "amount": 1000}
    )

    body = await text(packer, f"/admin/orders/{intent_id}")

    assert 'payment-refunded">10.00\xa0SGD' in body
    assert f"<code>{refund.id}</code>" in body
    assert any(what.startswith("Refund 10.00 SGD") for what, who in timeline_of(body))
    assert "order-refunded" not in body  # the ledger's own amount, none yet


async def test_the_timeline_tells_of_stripes_events_declines_refunds_and_shipping(
    shop: Quart, packer: Client
) -> None:
    await placed(shop, "pi_story", "paid", email="story@example.com")
    ledger = ledger_of(shop)
    # Sent after the ledger's last word from Stripe (the payment, just now).
    later = int(time.time()) + 60
    await ledger.apply_event(
        event(
            "evt_fail",
            "payment_intent.payment_failed",
            state("pi_story", "requires_payment_method", decline_code="insufficient_funds"),
            later,
        )
    )
    await ledger.apply_event(refund_event("evt_refund", "pi_story", PRICE // 2, later + 1))
    await change(
        shop, "pi_story", shipped_at=datetime.now(UTC), carrier="SingPost", tracking_number="RR1SG"
    )

    body = await text(packer, "/admin/orders/pi_story")

    timeline = timeline_of(body)
    assert timeline[0][0].startswith("Order created")
    assert ("Payment failed", "Stripe") in timeline and ("Refunded", "Stripe") in timeline
    assert (
        "Card declined 1 failed attempt; the last declined: insufficient_funds",
        "shopper",
    ) in timeline
    assert ("Shipped SingPost, tracking RR1SG", "shop") in timeline
    assert 'order-refunded">16.00\xa0SGD' in body
    assert 'badge text-bg-success">shipped' in body


async def test_a_shoppers_markup_and_invisible_characters_are_shown_escaped(
    shop: Quart, packer: Client
) -> None:
    tricky = replace(
        HOME,
        name="<script>alert(1)</script>",
        line1="Flat 3\u202e",
        city="Sing\u200bapore",
    )
    await placed(
        shop, "pi_tricky", "paid", email="evil\u202egro.example@example.com", address=tricky
    )

    page = await text(packer, "/admin/orders/pi_tricky")
    listing = await text(packer, "/admin/orders")

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\u202e" not in page and "\u200b" not in page
    assert "Flat 3\\u202e" in page and "Sing\\u200bapore" in page
    assert "evil\\u202egro.example@example.com" in page
    assert "\u202e" not in listing and "evil\\u202egro.example@example.com" in listing


async def test_an_unknown_order_is_not_found(shop: Quart, packer: Client) -> None:
    for headers in ({}, HTMX):
        response = await packer.get("/admin/orders/pi_nosuchorder", headers=headers)

        assert response.status_code == 404
        assert "The ledger has no order with that payment id." in await response.get_data(True)


async def test_the_order_page_shows_the_ledger_when_stripe_cannot_be_reached(
    shop: Quart, packer: Client, shopper: Client, sandbox: SandboxServer
) -> None:
    intent_id = await pay(shopper, sandbox)
    sandbox.set_faults(fail_rate=1.0)

    body = await text(packer, f"/admin/orders/{intent_id}")

    assert "Stripe couldn&#39;t be reached; showing the ledger only." in body
    assert BOOKS["code"].title in body and "Visa ending" not in body
    assert re.search(r'<code class="charge-id">ch_[A-Za-z0-9]+</code>', body)  # the ledger's
    assert "Order created" in body and "Paid" in body


async def test_an_order_stripe_has_no_payment_for_says_so(shop: Quart, packer: Client) -> None:
    await placed(shop, "pi_onlyinledger", "paid")

    body = await text(packer, "/admin/orders/pi_onlyinledger")

    assert "Stripe has no payment with this id; showing the ledger only." in body
    assert "Order created" in body


async def test_with_stripes_keys_the_order_links_to_stripes_dashboard(
    shop: Quart,
    packer: Client,
    shopper: Client,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intent_id = await pay(shopper, sandbox)
    monkeypatch.setattr(
        shop.extensions["payments"],
        "dashboard_url",
        lambda intent_id: f"https://dashboard.stripe.com/test/payments/{intent_id}",
    )

    body = await text(packer, f"/admin/orders/{intent_id}")

    assert (
        f'href="https://dashboard.stripe.com/test/payments/{intent_id}" rel="noopener noreferrer"'
        in body
    )
    assert "View in Stripe's dashboard" in body


async def test_the_owner_sees_the_orders_too(every_kind: Quart, owner: Client) -> None:
    assert len(listed(await text(owner, "/admin/orders"))) == 7
    assert "paid@example.com" in await text(owner, "/admin/orders/pi_paid")


async def test_each_export_is_written_to_the_audit_log_with_who_and_what(
    shop: Quart, packer: Client
) -> None:
    await placed(shop, "pi_exported", "paid", minute=1, email="kept@example.com")

    await packer.get("/admin/orders.csv?status=to-ship&q=kept")

    entries, total = await audit.entries(shop.extensions["ledger"].database, subject="orders")
    assert total == 1
    (entry,) = entries
    assert (entry.actor, entry.action) == (STAFF_EMAIL, "orders exported")
    assert entry.after == {"status": "to-ship", "search": "kept", "orders": 1}
