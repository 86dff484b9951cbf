"""The catalog in the back office: the owner adds, edits, retires and returns books to sale, each
change audited; the shop shows each at once, and a retired book is neither shown nor sold while
its orders stay as they were. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from quart import Quart, Response

from bookshop.admin import audit
from bookshop.admin.catalog import parse_price
from bookshop.catalog import Book, Catalog
from bookshop.orders import Ledger
from tests.checkout.steps import pushed_intent
from tests.fixtures.app import BOOKS, HTMX, Client, post
from tests.fixtures.paying import VISA, fill_cart, press_pay, session_intent
from tests.fixtures.sandbox import SandboxServer

CODE = BOOKS["code"]
NEW = {
    "id": "the-new-book",
    "title": "The New Book",
    "author": "A. Writer",
    "blurb": "Line one.\r\nLine two.",
    "price": "12.50",
    "isbn": "978-0-13-110362-7",
}
NO_LONGER_SOLD = "We no longer sell that book."


def catalog_of(shop: Quart) -> Catalog:
    """The shop's catalog."""
    found: Catalog = shop.extensions["catalog"]
    return found


async def text(response: Response) -> str:
    """A response's body."""
    return await response.get_data(as_text=True)


async def changes(shop: Quart, book_id: str) -> list[tuple[str, str, object, object]]:
    """The audit log's entries for a book, oldest first: (who, action, before, after)."""
    entries, _ = await audit.entries(shop.extensions["ledger"].database, subject=f"book {book_id}")
    return [(entry.actor, entry.action, entry.before, entry.after) for entry in reversed(entries)]


async def retire(owner: Client, book_id: str, retired: bool = True, htmx: bool = False) -> Response:
    """Press "Retire this book" (or "Return to sale") on its page."""
    form = {"retired": "1" if retired else "0"}
    return await post(owner, f"/admin/catalog/{book_id}/retire", form, HTMX if htmx else None)


async def edit(owner: Client, book: Book, htmx: bool = False, **typed: str) -> Response:
    """Save a book's form with these fields changed (the others as the form shows them)."""
    form = {"title": book.title, "author": book.author, "blurb": book.blurb, "price": "29.00"}
    return await post(owner, f"/admin/catalog/{book.id}", {**form, **typed}, HTMX if htmx else None)


async def test_the_catalog_lists_every_book_by_title_with_retired_ones_marked(
    shop: Quart, owner: Client
) -> None:
    # By title as the database sorts them (PostgreSQL's collation is not SQLite's).
    by_title = [book.id for book in (await catalog_of(shop).page(1, "title")).books]
    await retire(owner, "code")
    page = await owner.get("/admin/catalog")
    body = await text(page)
    assert page.status_code == 200
    assert re.findall(r'data-book="([^"]+)"', body) == by_title
    assert re.search(r'data-book="code" data-retired>', body)
    assert 'data-book="hackers">' in body
    assert "Retired" in body and 'aria-current="page"' in body

    retired = await text(await owner.get("/admin/catalog?shown=retired"))
    assert re.findall(r'data-book="([^"]+)"', retired) == ["code"]
    on_sale = await text(await owner.get("/admin/catalog?shown=on-sale"))
    assert 'data-book="code"' not in on_sale and 'data-book="hackers"' in on_sale


async def test_a_search_swaps_the_table_for_htmx_and_finds_a_book_by_its_id(
    shop: Quart, owner: Client
) -> None:
    found = await owner.get("/admin/catalog?q=hackers&shown=all", headers=HTMX)
    body = await text(found)
    assert found.status_code == 200
    assert "<html" not in body and "<table" in body
    assert re.findall(r'data-book="([^"]+)"', body) == ["hackers"]
    assert found.headers["HX-Push-Url"] == "/admin/catalog?q=hackers"
    assert "Page 1 of the books matching" in body  # said aloud
    by_id = await text(await owner.get("/admin/catalog?q=code"))
    assert re.findall(r'data-book="([^"]+)"', by_id)[0] == "code"
    none = await text(await owner.get("/admin/catalog?q=%E2%80%AEnothing"))
    assert "No books match “\\u202enothing”" in none


async def test_the_catalog_is_paged_50_books_a_page(shop: Quart, owner: Client) -> None:
    await catalog_of(shop).write(
        [Book(f"extra-{n:02}", f"Extra {n:02}", "Someone", "", 100) for n in range(50)]
    )
    first = await text(await owner.get("/admin/catalog"))
    second = await text(await owner.get("/admin/catalog?page=2"))
    assert len(re.findall(r"data-book=", first)) == 50
    assert len(re.findall(r"data-book=", second)) == len(BOOKS)
    assert 'href="/admin/catalog?page=2" rel="next"' in first
    assert 'href="/admin/catalog" rel="prev"' in second and 'rel="next"' not in second


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("shown=sold", 400),
        ("page=0", 400),
        ("page=x", 400),
        ("page=9", 404),
        ("q=" + "x" * 101, 400),
    ],
)
async def test_a_list_url_it_cannot_read_is_a_clear_error(
    shop: Quart, owner: Client, query: str, status: int
) -> None:
    assert (await owner.get(f"/admin/catalog?{query}")).status_code == status


async def test_an_added_book_is_on_sale_in_the_shop_at_once_and_audited(
    shop: Quart, owner: Client, shopper: Client
) -> None:
    form = await owner.get("/admin/catalog/new")
    assert form.status_code == 200 and 'name="id"' in await text(form)

    added = await post(owner, "/admin/catalog/new", NEW)

    assert added.status_code == 303
    assert added.headers["Location"] == "/admin/catalog/the-new-book?done=added"
    page = await text(await owner.get(added.headers["Location"]))
    assert "Book added" in page and "12.50" in page
    book = Book("the-new-book", "The New Book", "A. Writer", "Line one.\nLine two.", 1250,
                "9780131103627")  # fmt: skip
    assert await catalog_of(shop).get("the-new-book") == book
    shown = await text(await shopper.get("/books/the-new-book"))
    assert "12.50\xa0SGD" in shown
    assert "/books/the-new-book" in await text(await shopper.get("/?q=new+book"))
    assert await changes(shop, "the-new-book") == [
        (
            "owner@bookshop.test",
            "book added",
            None,
            {
                "id": "the-new-book",
                "title": "The New Book",
                "author": "A. Writer",
                "blurb": "Line one.\nLine two.",
                "price": 1250,
                "isbn": "9780131103627",
            },
        )
    ]


async def test_a_book_added_with_htmx_sends_the_browser_to_its_page(
    shop: Quart, owner: Client
) -> None:
    added = await post(owner, "/admin/catalog/new", NEW, HTMX)
    assert added.status_code == 204
    assert added.headers["HX-Redirect"] == "/admin/catalog/the-new-book?done=added"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_a_new_book_with_bad_fields_is_422_each_message_beside_its_field_values_kept(
    shop: Quart, owner: Client, htmx: bool
) -> None:
    typed = {**NEW, "id": "Bad Id", "title": "", "price": "12.505", "isbn": "123"}

    refused = await post(owner, "/admin/catalog/new", typed, HTMX if htmx else None)

    body = await text(refused)
    assert refused.status_code == 422
    assert ("<html" in body) is not htmx
    assert 'id="book-editor"' in body
    for name, message in [
        ("id", "ID &#39;Bad Id&#39; is not a lowercase slug"),
        ("title", "Title is missing"),
        ("price", "SGD amounts have at most 2 decimal places: like 12.50."),
        ("isbn", "ISBN &#39;123&#39; is not an ISBN-13"),
    ]:
        assert re.search(rf'id="book-{name}-error">{re.escape(message)}', body), name
        assert re.search(rf'class="form-control[^"]*is-invalid"[^>]*id="book-{name}"', body), name
    assert 'value="A. Writer"' in body and 'value="12.505"' in body
    assert "Line one.\nLine two.</textarea>" in body
    assert re.search(r'id="book-id"[^>]*autofocus', body)
    assert await catalog_of(shop).entry("bad-id") is None
    assert await changes(shop, "Bad Id") == []


async def test_an_id_a_retired_book_has_is_not_given_to_a_new_one(
    shop: Quart, owner: Client
) -> None:
    await retire(owner, "code")
    for book_id, message in [
        ("code", "A book has this id already (on sale or retired): choose another."),
        ("new", "“new” is the address of this form: choose another id."),
    ]:
        refused = await post(owner, "/admin/catalog/new", {**NEW, "id": book_id})
        assert refused.status_code == 422
        assert message in await text(refused)
    entry = await catalog_of(shop).entry("code")
    assert entry is not None and entry.book == CODE and entry.retired


async def test_a_new_price_shows_on_the_book_page_and_in_the_cart_at_once(
    shop: Quart, owner: Client, shopper: Client
) -> None:
    await fill_cart(shopper, ("code", 2))
    assert "29.00\xa0SGD" in await text(await shopper.get("/books/code"))  # now in the cache
    form = await text(await owner.get("/admin/catalog/code"))
    assert 'value="29.00"' in form and "Retire this book" in form

    saved = await edit(owner, CODE, price="19.99", title="Code, Second Edition")

    assert saved.status_code == 303
    assert saved.headers["Location"] == "/admin/catalog/code?done=edited"
    assert "Changes saved" in await text(await owner.get(saved.headers["Location"]))
    page = await text(await shopper.get("/books/code"))
    assert "19.99\xa0SGD" in page and "Code, Second Edition" in page
    cart = await text(await shopper.get("/cart"))
    assert "19.99\xa0SGD" in cart and "39.98\xa0SGD" in cart
    assert await changes(shop, "code") == [
        (
            "owner@bookshop.test",
            "book edited",
            {"price": 2900, "title": CODE.title},
            {"price": 1999, "title": "Code, Second Edition"},
        )
    ]


async def test_an_edit_with_htmx_answers_with_the_form_saying_it_is_saved(
    shop: Quart, owner: Client
) -> None:
    saved = await edit(owner, CODE, htmx=True, blurb="A new blurb.\r\nOn two lines.")
    body = await text(saved)
    assert saved.status_code == 200
    assert "<html" not in body and 'id="book-editor"' in body
    assert "Changes saved" in body and 'id="live-status" hx-swap-oob' in body
    assert "A new blurb.\nOn two lines.</textarea>" in body
    book = await catalog_of(shop).get("code")
    assert book is not None and book.blurb == "A new blurb.\nOn two lines."


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_an_edit_with_a_bad_price_is_422_and_changes_nothing(
    shop: Quart, owner: Client, htmx: bool
) -> None:
    refused = await edit(owner, CODE, htmx=htmx, price="twelve", title="Kept as typed")
    body = await text(refused)
    assert refused.status_code == 422
    assert ("<html" in body) is not htmx
    assert 'id="book-price-error">Enter the price as a number, like 12.50.' in body
    assert 'value="Kept as typed"' in body and 'value="twelve"' in body
    assert await catalog_of(shop).get("code") == CODE
    assert await changes(shop, "code") == []


async def test_saving_a_book_as_it_was_writes_nothing(shop: Quart, owner: Client) -> None:
    saved = await edit(owner, CODE, price="29")
    assert saved.headers["Location"] == "/admin/catalog/code?done=unchanged"
    assert await changes(shop, "code") == []


async def test_a_retired_book_is_not_shown_and_not_sold(
    shop: Quart, owner: Client, shopper: Client
) -> None:
    await fill_cart(shopper, ("code", 1), ("hackers", 1))
    assert "/books/code" in await text(await shopper.get("/sitemap-1.xml"))

    retired = await retire(owner, "code")

    assert retired.status_code == 303
    assert retired.headers["Location"] == "/admin/catalog/code?done=retired"
    page = await text(await owner.get(retired.headers["Location"]))
    assert "Book retired" in page and "Return to sale" in page
    cart = await text(await shopper.get("/cart"))
    assert "A book in your cart is no longer sold, so we took it out." in cart
    assert 'data-book="code"' not in cart and 'data-book="hackers"' in cart
    gone = await shopper.get("/books/code")
    assert gone.status_code == 404 and NO_LONGER_SOLD in await text(gone)
    assert "/books/code" not in await text(await shopper.get("/"))
    assert "/books/code" not in await text(await shopper.get("/?q=petzold"))
    assert "/books/code" not in await text(await shopper.get("/sitemap-1.xml"))
    for url, form in [
        ("/cart/add", {"book_id": "code", "quantity": "1"}),
        ("/checkout/code/pay", {"quantity": "1"}),
    ]:
        refused = await post(shopper, url, form)
        assert refused.status_code == 404 and NO_LONGER_SOLD in await text(refused), url
    assert (await shopper.get("/checkout/code")).status_code == 404
    assert await changes(shop, "code") == [
        ("owner@bookshop.test", "book retired", {"retired": False}, {"retired": True})
    ]


async def test_pay_on_a_page_shown_before_a_book_was_retired_charges_nothing(
    shop: Quart, owner: Client, shopper: Client, sandbox: SandboxServer
) -> None:
    await fill_cart(shopper, ("code", 1), ("hackers", 1))
    page = await text(await shopper.get("/checkout"))
    await retire(owner, "code")

    refused = await press_pay(shopper, sandbox, "/checkout", page=page)

    body = await text(refused)
    assert refused.status_code == 409
    assert "Your order changed since this page was shown" in body
    assert 'data-book="code"' not in body and 'data-book="hackers"' in body
    assert await session_intent(shopper) is None  # no PaymentIntent was made


async def test_a_paid_order_naming_a_retired_book_stays_as_it_was(
    shop: Quart, owner: Client, shopper: Client, sandbox: SandboxServer
) -> None:
    paid = await press_pay(shopper, sandbox, "/checkout/code", VISA)
    assert paid.status_code == 200
    intent_id = pushed_intent(paid)
    ledger: Ledger = shop.extensions["ledger"]
    before = await ledger.get(intent_id)

    await retire(owner, "code")

    after = await ledger.get(intent_id)
    assert after == before and after is not None
    assert [(line.book_id, line.title, line.unit_price) for line in after.lines] == [
        ("code", CODE.title, 2900)
    ]
    receipt = await shopper.get(paid.headers["HX-Push-Url"])
    assert receipt.status_code == 200 and "Payment received" in await text(receipt)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_a_book_returned_to_sale_is_shown_and_sold_again(
    shop: Quart, owner: Client, shopper: Client, htmx: bool
) -> None:
    await retire(owner, "code")
    retired_page = await text(await owner.get("/admin/catalog/code"))
    assert "Retired on" in retired_page

    returned = await retire(owner, "code", retired=False, htmx=htmx)

    if htmx:
        body = await text(returned)
        assert returned.status_code == 200 and "<html" not in body
        assert "Book returned to sale" in body and "Retire this book" in body
    else:
        assert returned.headers["Location"] == "/admin/catalog/code?done=returned"
    assert (await shopper.get("/books/code")).status_code == 200
    assert (await post(shopper, "/cart/add", {"book_id": "code"})).status_code == 303
    assert [action for _, action, _, _ in await changes(shop, "code")] == [
        "book retired",
        "book returned to sale",
    ]


async def test_retiring_a_retired_book_again_records_nothing_more(
    shop: Quart, owner: Client
) -> None:
    await retire(owner, "code")
    again = await retire(owner, "code")
    assert again.headers["Location"] == "/admin/catalog/code?done=retired"
    assert len(await changes(shop, "code")) == 1


async def test_an_unknown_book_or_a_retire_without_saying_which_way_is_a_clear_error(
    shop: Quart, owner: Client
) -> None:
    assert (await owner.get("/admin/catalog/no-such-book")).status_code == 404
    assert (await edit(owner, Book("no-such-book", "T", "A", "", 1))).status_code == 404
    assert (await retire(owner, "no-such-book")).status_code == 404
    unclear = await post(owner, "/admin/catalog/code/retire", {"retired": "maybe"})
    assert unclear.status_code == 400
    assert await changes(shop, "code") == []


async def test_staff_get_403_on_every_catalog_route_and_change_nothing(
    shop: Quart, packer: Client
) -> None:
    for htmx in (False, True):
        headers = HTMX if htmx else None
        for url in ("/admin/catalog", "/admin/catalog/new", "/admin/catalog/code"):
            assert (await packer.get(url, headers=headers)).status_code == 403, url
        for url, form in [
            ("/admin/catalog/new", NEW),
            ("/admin/catalog/code", {"title": "T", "author": "A", "blurb": "", "price": "1"}),
            ("/admin/catalog/code/retire", {"retired": "1"}),
        ]:
            assert (await post(packer, url, form, headers)).status_code == 403, url
    assert await catalog_of(shop).get("code") == CODE
    assert await catalog_of(shop).entry("the-new-book") is None
    assert await changes(shop, "code") == []


@pytest.mark.parametrize(
    ("typed", "currency", "locale", "minor"),
    [
        ("12.50", "sgd", "en_SG", 1250),
        (" 12.5 ", "sgd", "en_SG", 1250),
        ("12", "sgd", "en_SG", 1200),
        ("12.500", "sgd", "en_SG", 1250),
        ("1,234.50", "sgd", "en_SG", 123450),
        ("12,50", "eur", "de_DE", 1250),
        ("1200", "jpy", "ja_JP", 1200),
        ("0.125", "kwd", "ar_KW", 125),
    ],
)
def test_a_price_is_read_as_money_in_the_shops_currency_and_locale(
    typed: str, currency: str, locale: str, minor: int
) -> None:
    assert parse_price(typed, currency, locale) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("", "sgd", "Enter the price, like 12.50."),
        ("12.505", "sgd", "SGD amounts have at most 2 decimal places: like 12.50."),
        ("12.5", "jpy", "JPY amounts have no decimal places: like 1250."),
        ("twelve", "sgd", "Enter the price as a number, like 12.50."),
        ("1e3", "sgd", "Enter the price as a number, like 12.50."),
        ("NaN", "sgd", "Enter the price as a number, like 12.50."),
        ("Infinity", "sgd", "Enter the price as a number, like 12.50."),
        ("12,50", "sgd", "Enter the price as a number, like 12.50."),
        ("12.50 EUR", "sgd", "Enter the price as a number, like 12.50."),
        ("0", "sgd", "Enter a price above zero and at most 9,999,999.99\xa0SGD."),
        ("-5", "sgd", "Enter a price above zero and at most 9,999,999.99\xa0SGD."),
        ("10000000", "sgd", "Enter a price above zero and at most 9,999,999.99\xa0SGD."),
        ("9" * 31, "sgd", "Enter the price as a number, like 12.50."),
    ],
)
def test_a_price_that_is_not_money_in_the_shops_currency_says_what_to_type(
    typed: str, currency: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_price(typed, currency, "en_SG")


async def test_a_change_whose_audit_entry_fails_is_not_made(
    shop: Quart, owner: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("the audit log's disk is full")

    monkeypatch.setattr(audit, "record", failing)
    failed = await edit(owner, CODE, price="1.00")
    assert failed.status_code == 500
    assert (await retire(owner, "code")).status_code == 500
    assert (await post(owner, "/admin/catalog/new", NEW)).status_code == 500
    entry = await catalog_of(shop).entry("code")
    assert entry is not None and entry.book == CODE and not entry.retired
    assert await catalog_of(shop).entry("the-new-book") is None
