"""The owner's audit log page (/admin/audit): every staff action newest first, 50 a page, all or
one subject's, and its table as an order's page includes it; on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from quart import Quart, render_template

from bookshop.admin import audit
from bookshop.admin.audit import Actor
from bookshop.admin.audit_log import PER_PAGE
from tests.fixtures.app import HTMX, Client
from tests.fixtures.staff import OWNER_EMAIL, accounts_of

URL = "/admin/audit"
ADA = Actor("ada@bookshop.test", "203.0.113.9")
ROW = re.compile(r'<tr class="audit-entry">(.*?)</tr>', re.S)
TAG = re.compile(r"<[^>]+>")


async def log(
    shop: Quart,
    action: str,
    subject: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Actor = ADA,
    times: int = 1,
) -> None:
    """Write entries to the shop's audit log, as staff actions do."""
    database = accounts_of(shop).database
    async with database.transaction() as connection:
        for _ in range(times):
            await audit.record(
                connection, database, actor, action, subject, before=before, after=after
            )


def rows(body: str) -> list[list[str]]:
    """Each entry's row as the text of its cells (when, who, from, action, subject, changes),
    whitespace collapsed."""
    return [
        [
            " ".join(html.unescape(TAG.sub(" ", cell)).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in ROW.findall(body)
    ]


async def page(client: Client, url: str = URL, **headers: str) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_data(as_text=True)


async def test_entries_show_newest_first_with_who_from_where_what_and_the_changes(
    shop: Quart, owner: Client
) -> None:
    await log(
        shop,
        "book edited",
        "book code",
        before={"price": 2900, "title": "Code"},
        after={"price": 3100, "title": "Code"},
    )
    await log(
        shop,
        "staff disabled",
        "staff packer@bookshop.test",
        before={"disabled": False},
        after={"disabled": True},
    )

    shown = rows(await page(owner))

    assert [row[1:] for row in shown] == [
        [ADA.email, ADA.address, "staff disabled", "staff packer@bookshop.test",
         "disabled: no → yes"],
        [ADA.email, ADA.address, "book edited", "book code", "price: 2900 → 3100"],
        # The owner's own sign-in (from the test client's address) and account, made at the
        # terminal (which has none).
        [OWNER_EMAIL, "<local>", "signed in", f"staff {OWNER_EMAIL}", ""],
        ["terminal", "none", "staff added", f"staff {OWNER_EMAIL}",
         f"email: {OWNER_EMAIL} role: owner"],
    ]  # fmt: skip
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0]) for row in shown)


async def test_a_key_only_before_reads_as_gone(shop: Quart, owner: Client) -> None:
    await log(shop, "book retired", "book code", before={"on sale": True, "stock": [1, 2]})

    [latest, *_] = rows(await page(owner))

    assert latest[4:] == ["book code", "on sale: yes → none stock: [1, 2] → none"]


async def test_an_order_subject_links_to_the_order_and_others_to_their_own_entries(
    shop: Quart, owner: Client
) -> None:
    await log(shop, "refunded", "order pi_123abc", after={"amount": 2900})

    body = await page(owner)

    assert '<a href="/admin/orders/pi_123abc">order pi_123abc</a>' in body
    staff_link = f'<a href="/admin/audit?subject=staff+{OWNER_EMAIL}">staff {OWNER_EMAIL}</a>'
    assert staff_link in body


async def test_what_staff_and_shoppers_typed_is_shown_with_invisible_characters_visible(
    shop: Quart, owner: Client
) -> None:
    await log(
        shop,
        "marked shipped",
        "order pi_\u202eevil",
        after={"tracking": "TRK\u2028<b>1</b>"},
        actor=Actor("\u202eada@bookshop.test", None),
    )

    body = await page(owner)

    assert "\u202e" not in body and "\u2028" not in body
    assert "<b>1</b>" not in body
    [latest, *_] = rows(body)
    assert latest[1:] == [
        "\\u202eada@bookshop.test",
        "none",
        "marked shipped",
        "order pi_\\u202eevil",
        "tracking: TRK\\u2028<b>1</b>",
    ]


async def test_fifty_entries_a_page_with_previous_and_next_links(
    shop: Quart, owner: Client
) -> None:
    await log(shop, "stock set", "stock code", times=2 * PER_PAGE + 8)  # 2 more: the owner's
    total = 2 * PER_PAGE + 10

    first = await page(owner)
    second = await page(owner, f"{URL}?page=2")
    third = await page(owner, f"{URL}?page=3")

    assert (len(rows(first)), len(rows(second)), len(rows(third))) == (PER_PAGE, PER_PAGE, 10)
    assert f"Entries 1\u201350 of {total}" in first
    assert f"Entries 101\u2013110 of {total}" in third
    assert 'href="/admin/audit?page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    assert 'href="/admin/audit" rel="prev"' in second
    assert 'href="/admin/audit?page=3" rel="next"' in second
    assert 'href="/admin/audit?page=2" rel="prev"' in third
    assert 'rel="next"' not in third
    assert "Page 3 of 3" in third
    assert rows(third)[-1][3] == "staff added"  # the oldest, last


async def test_htmx_gets_the_table_alone_and_the_url_pushed(shop: Quart, owner: Client) -> None:
    await log(shop, "stock set", "stock code", times=PER_PAGE)

    response = await owner.get(f"{URL}?page=2", headers=HTMX)

    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert "<html" not in body and 'id="page-heading"' not in body
    assert len(rows(body)) == 2
    assert 'hx-get="/admin/audit" hx-target="#audit-results">Previous</a>' in body
    assert response.headers["HX-Push-Url"] == "/admin/audit?page=2"
    assert "HX-Request" in response.headers["Vary"]
    plain = await page(owner, f"{URL}?page=2")
    assert '<div id="audit-results">' in plain and "<html" in plain


async def test_a_subject_shows_only_its_entries(shop: Quart, owner: Client) -> None:
    await log(shop, "refunded", "order pi_one")
    await log(shop, "marked shipped", "order pi_two")
    await log(shop, "refunded", "order pi_one2")

    body = await page(owner, f"{URL}?subject=order+pi_one")
    fragment = await page(owner, f"{URL}?subject=+order+pi_one+", **HTMX)

    assert [row[3:5] for row in rows(body)] == [["refunded", "order pi_one"]]
    assert "Entries 1\u20131 of 1 · about “order pi_one”" in body
    assert 'value="order pi_one"' in body  # the form keeps it
    assert rows(fragment) == rows(body)


async def test_a_subject_with_no_entries_says_so_and_links_to_the_whole_log(
    owner: Client,
) -> None:
    body = await page(owner, f"{URL}?subject=order+pi_none")

    assert rows(body) == []
    assert "Nothing is logged about “order pi_none”." in body
    assert '<a href="/admin/audit">Show the whole log</a>' in body


@pytest.mark.parametrize("number", ["0", "-1", "two", "1.5", "1234567", ""])
async def test_a_page_that_is_not_a_whole_number_from_1_is_400(owner: Client, number: str) -> None:
    response = await owner.get(f"{URL}?page={number}")

    assert response.status_code == 400
    assert "The page must be a whole number, 1 or more." in await response.get_data(as_text=True)


async def test_a_page_past_the_end_is_404(owner: Client) -> None:
    response = await owner.get(f"{URL}?page=2")

    assert response.status_code == 404
    body = await response.get_data(as_text=True)
    assert "There is no page 2 of this log: it ends at page 1." in body


async def test_an_overlong_subject_is_400(owner: Client) -> None:
    response = await owner.get(f"{URL}?subject={'x' * 301}")
    assert response.status_code == 400


async def test_staff_who_are_not_the_owner_get_403(packer: Client) -> None:
    assert (await packer.get(URL)).status_code == 403
    assert (await packer.get(URL, headers=HTMX)).status_code == 403


async def test_the_table_alone_shows_given_entries_without_pages_or_subject_links(
    shop: Quart, owner: Client
) -> None:
    await log(shop, "refunded", "order pi_123abc", before={"refunded": 0}, after={"refunded": 900})
    await log(shop, "stock set", "stock code")
    entries, _ = await audit.entries(accounts_of(shop).database, per_page=2)

    # As an order's page includes it: with `entries` alone.
    async with shop.test_request_context("/admin/orders/pi_123abc"):
        body = await render_template("admin/_audit_table.html", entries=entries)

    assert [row[3:] for row in rows(body)] == [
        ["stock set", "stock code", ""],
        ["refunded", "order pi_123abc", "refunded: 0 → 900"],
    ]
    assert '<a href="/admin/orders/pi_123abc">' in body
    assert "/admin/audit" not in body  # no pages, no subject links
    assert "Entries" not in body
