"""`quart --app bookshop stock set`, `stock add` and `stock list`, the catalog's `stock` column in
`catalog import` and `export`, and `orders` showing an order refunded because its copies were
gone; on SQLite and PostgreSQL.

These are plain `def` tests: the commands run their own event loop, as they do from a shell.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import update

from bookshop import create_app
from bookshop.catalog.books import Book
from bookshop.catalog.commands import opened
from bookshop.catalog.schema import books
from bookshop.catalog.store import Catalog
from bookshop.config import Settings
from bookshop.orders import Ledger
from bookshop.orders.schema import orders
from bookshop.payments import Intent, IntentLine
from bookshop.payments.objects import Charge
from bookshop.stock import Stock, StockLevel, StockMove
from tests.fixtures.database import run_async

CODE = Book("code", "Code", "Charles Petzold", "From flashlights up.", 2900)
SICP = Book("sicp", "SICP", "Abelson and Sussman", "", 4500)
HEADER = "id,title,author,blurb,price,isbn,stock"
LATER = datetime.now(UTC) + timedelta(minutes=15)
NOT_COUNTED = "Books not listed are not counted: the shop sells them without limit."


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shop's settings on this test's database (SQLite, then PostgreSQL), run by the OS user
    `ada`; no Stripe call is made by these commands."""
    monkeypatch.setenv("LOGNAME", "ada")  # getpass.getuser() reads it first
    return Settings(database_url=database_url, env="test", secret_key="test-secret")


@pytest.fixture
def shelved(settings: Settings) -> Settings:
    """The settings, with Code and SICP in the catalog and neither counted."""
    shelve(settings, CODE, SICP)
    return settings


def run(settings: Settings, *args: str) -> Result:
    """Run a `quart --app bookshop` command against these settings."""
    result: Result = create_app(settings).test_cli_runner().invoke(args=list(args))
    return result


def shelve(settings: Settings, *shelf: Book) -> None:
    """Put these books in the catalog as they are (unchecked, as an old catalog may hold them)."""

    async def write() -> None:
        async with opened(settings) as database:
            await Catalog(database).write(shelf)

    run_async(write())


def reserve(settings: Settings, checkout_id: str, lines: Sequence[tuple[str, int]]) -> None:
    """Hold copies for a checkout, as the pay step does."""

    async def held() -> None:
        async with opened(settings) as database:
            await Stock(database).reserve(checkout_id, lines, LATER)

    run_async(held())


def levels(settings: Settings) -> list[StockLevel]:
    async def read() -> list[StockLevel]:
        async with opened(settings) as database:
            return await Stock(database).levels()

    return run_async(read())


def moves(settings: Settings, book_id: str) -> list[StockMove]:
    async def read() -> list[StockMove]:
        async with opened(settings) as database:
            return await Stock(database).moves(book_id)

    return run_async(read())


def catalog_file(tmp_path: Path, *lines: str, name: str = "books.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def test_set_counts_a_books_copies_and_list_shows_every_counted_book(shelved: Settings) -> None:
    result = run(shelved, "stock", "set", "code", "10")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Set code to 10 on hand (0 reserved, 10 available), 0 sold.\n"
    assert levels(shelved) == [StockLevel("code", 10, 0, 0)]
    listed = run(shelved, "stock", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [
        "BOOK  TITLE  ON HAND  RESERVED  AVAILABLE  SOLD",
        "code  Code        10         0         10     0",
        NOT_COUNTED,
    ]


def test_set_again_replaces_the_count_and_records_by_how_much(shelved: Settings) -> None:
    assert run(shelved, "stock", "set", "code", "10").exit_code == 0
    result = run(shelved, "stock", "set", "code", "4")

    assert result.exit_code == 0, result.output
    assert levels(shelved) == [StockLevel("code", 4, 0, 0)]
    assert [(move.kind, move.quantity, move.on_hand) for move in moves(shelved, "code")] == [
        ("set", 10, 10),
        ("set", -6, 4),
    ]


def test_add_is_a_delivery_on_top_of_the_copies_on_hand(shelved: Settings) -> None:
    assert run(shelved, "stock", "set", "code", "2").exit_code == 0
    reserve(shelved, "checkout-1", [("code", 1)])

    result = run(shelved, "stock", "add", "code", "5")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Added 5 copies of code: 7 on hand (1 reserved, 6 available), 0 sold.\n"
    assert levels(shelved) == [StockLevel("code", 7, 1, 0)]


def test_add_to_a_book_not_counted_starts_counting_it_at_the_delivery(shelved: Settings) -> None:
    result = run(shelved, "stock", "add", "sicp", "1")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Added 1 copy of sicp: 1 on hand (0 reserved, 1 available), 0 sold.\n"
    assert levels(shelved) == [StockLevel("sicp", 1, 0, 0)]


def test_list_with_no_book_counted_says_every_book_is_sold_without_limit(
    shelved: Settings,
) -> None:
    result = run(shelved, "stock", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == "No book is counted yet: the shop sells every book without limit.\n"


def test_list_of_one_book_gives_its_numbers_then_every_move_with_what_made_it(
    shelved: Settings,
) -> None:
    assert run(shelved, "stock", "set", "code", "3").exit_code == 0
    assert run(shelved, "stock", "add", "code", "2").exit_code == 0
    reserve(shelved, "checkout-1", [("code", 2)])
    reserve(shelved, "checkout-1", [("code", 1)])  # paying again gives back what it held first

    result = run(shelved, "stock", "list", "--book", "code")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == ["code: Code", "5 on hand (1 reserved, 4 available), 0 sold.", ""]
    assert lines[3].split() == [
        "TIME", "(UTC)", "KIND", "QUANTITY", "ON", "HAND", "RESERVED", "REFERENCE"
    ]  # fmt: skip
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert [line.split()[0] for line in lines[4:]] == [today] * 5
    # What follows the time: kind, quantity, on hand and reserved after, reference.
    assert [line.split(maxsplit=2)[2] for line in lines[4:]] == [
        "set              3        3         0  command: stock set by ada",
        "delivery         2        5         0  command: stock add by ada",
        "reserved         2        5         2  checkout-1",
        "released         2        5         0  checkout-1",
        "reserved         1        5         1  checkout-1",
    ]


def test_list_of_one_book_not_counted_says_it_is_not_limited(shelved: Settings) -> None:
    result = run(shelved, "stock", "list", "--book", "sicp")
    assert result.exit_code == 0, result.output
    assert result.stdout == "sicp: SICP\nNot counted: the shop sells it without limit.\n"


def test_list_of_a_book_the_shop_does_not_know_is_refused(shelved: Settings) -> None:
    result = run(shelved, "stock", "list", "--book", "nowhere")
    assert result.exit_code == 1
    assert result.stderr == "Error: The catalog has no book 'nowhere'.\n"


def test_set_and_add_refuse_a_book_the_catalog_does_not_have(shelved: Settings) -> None:
    for command in ("set", "add"):
        result = run(shelved, "stock", command, "nowhere", "3")
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == "Error: The catalog has no book 'nowhere': nothing was changed.\n"
    assert levels(shelved) == []


def test_set_refuses_a_negative_count_and_add_a_delivery_of_none(shelved: Settings) -> None:
    assert run(shelved, "stock", "set", "code", "2").exit_code == 0

    negative = run(shelved, "stock", "set", "code", "-1")
    none = run(shelved, "stock", "add", "code", "0")

    assert (negative.exit_code, none.exit_code) == (1, 1)
    assert negative.stderr == (
        "Error: A book can't have fewer than 0 copies. Nothing was changed.\n"
    )
    assert none.stderr == "Error: A delivery brings at least 1 copy. Nothing was changed.\n"
    assert levels(shelved) == [StockLevel("code", 2, 0, 0)]
    assert len(moves(shelved, "code")) == 1


def test_set_refuses_fewer_copies_than_checkouts_are_paying_for(shelved: Settings) -> None:
    assert run(shelved, "stock", "set", "code", "5").exit_code == 0
    reserve(shelved, "checkout-1", [("code", 3)])

    refused = run(shelved, "stock", "set", "code", "2")
    allowed = run(shelved, "stock", "set", "code", "3")

    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: 3 copies of code are reserved by checkouts paying now: count at least that "
        "many. Nothing was changed.\n"
    )
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout == "Set code to 3 on hand (3 reserved, 0 available), 0 sold.\n"


@pytest.mark.parametrize("copies", ["many", "1.5", "", "\u0665"])
def test_a_count_that_is_not_a_whole_number_is_refused(shelved: Settings, copies: str) -> None:
    result = run(shelved, "stock", "set", "code", copies)
    assert result.exit_code == 1
    assert result.stderr == f"Error: '{copies}' is not a whole number of copies.\n"
    assert levels(shelved) == []


def test_a_count_beyond_what_a_book_may_have_is_refused(shelved: Settings) -> None:
    result = run(shelved, "stock", "add", "code", "99999999999")
    assert result.exit_code == 1
    assert result.stderr == ("Error: 99999999999 copies is more than the 999999 a book may have.\n")


def test_titles_and_references_from_the_database_are_shown_visibly(settings: Settings) -> None:
    shelve(settings, Book("evil", "\x1b[31mRed\u202e", "A", "", 100))
    assert run(settings, "stock", "set", "evil", "2").exit_code == 0
    reserve(settings, "\x1b]0;owned\x07", [("evil", 1)])

    listed = run(settings, "stock", "list")
    one = run(settings, "stock", "list", "--book", "evil")

    for result in (listed, one):
        assert result.exit_code == 0, result.output
        assert not {"\x1b", "\x07", "\u202e"} & set(result.output)
    assert "\\x1b[31mRed\\u202e" in listed.stdout
    assert one.stdout.startswith("evil: \\x1b[31mRed\\u202e\n")
    assert one.stdout.rstrip().endswith("\\x1b]0;owned\\x07")


def test_a_counted_book_gone_from_the_catalog_is_listed_as_such(shelved: Settings) -> None:
    assert run(shelved, "stock", "set", "code", "1").exit_code == 0

    async def remove() -> None:
        async with opened(shelved) as database, database.transaction() as connection:
            await connection.execute(books.delete().where(books.c.id == "code"))

    run_async(remove())
    listed = run(shelved, "stock", "list")
    one = run(shelved, "stock", "list", "--book", "code")

    assert "code  (not in the catalog)" in listed.stdout
    assert one.exit_code == 0, one.output
    assert one.stdout.startswith("code: (not in the catalog)\n1 on hand")


def test_import_with_a_stock_column_sets_copies_on_hand_and_an_empty_one_leaves_them(
    shelved: Settings, tmp_path: Path
) -> None:
    assert run(shelved, "stock", "set", "sicp", "4").exit_code == 0
    path = catalog_file(
        tmp_path,
        HEADER,
        "code,Code,Charles Petzold,From flashlights up.,2900,,5",
        "sicp,SICP,Abelson and Sussman,,4500,,",
        "hackers,Hackers,Steven Levy,,1800,,0",
    )

    first = run(shelved, "catalog", "import", str(path))
    again = run(shelved, "catalog", "import", str(path))

    assert first.exit_code == 0, first.output
    assert first.stdout == (
        "Imported 3 books: 1 added, 0 changed, 2 unchanged; stock: 2 set, 0 unchanged.\n"
    )
    assert levels(shelved) == [
        StockLevel("code", 5, 0, 0),
        StockLevel("hackers", 0, 0, 0),
        StockLevel("sicp", 4, 0, 0),
    ]
    [move] = moves(shelved, "code")
    assert (move.kind, move.quantity, move.reference) == ("set", 5, "catalog import")
    # Importing the same file again changes nothing, and records no move.
    assert again.stdout == (
        "Imported 3 books: 0 added, 0 changed, 3 unchanged; stock: 0 set, 2 unchanged.\n"
    )
    assert len(moves(shelved, "code")) == 1


def test_import_without_a_stock_column_leaves_stock_as_it_is(
    shelved: Settings, tmp_path: Path
) -> None:
    assert run(shelved, "stock", "set", "code", "4").exit_code == 0
    path = catalog_file(tmp_path, "id,title,author,blurb,price,isbn", "code,Code 2,P,,2900,")

    result = run(shelved, "catalog", "import", str(path))

    assert result.stdout == "Imported 1 book: 0 added, 1 changed, 0 unchanged.\n"
    assert levels(shelved) == [StockLevel("code", 4, 0, 0)]


def test_import_reads_stock_from_a_toml_catalog(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "books.toml"
    path.write_text(
        '[[books]]\nid = "code"\ntitle = "Code"\nauthor = "Charles Petzold"\nprice = 2900\n'
        "stock = 7\n\n"
        '[[books]]\nid = "sicp"\ntitle = "SICP"\nauthor = "Abelson and Sussman"\nprice = 4500\n',
        encoding="utf-8",
    )

    result = run(settings, "catalog", "import", str(path))

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Imported 2 books: 2 added, 0 changed, 0 unchanged; stock: 1 set, 0 unchanged.\n"
    )
    assert levels(settings) == [StockLevel("code", 7, 0, 0)]


def test_a_bad_stock_value_is_a_problem_on_its_line_and_nothing_changes(
    settings: Settings, tmp_path: Path
) -> None:
    csv_path = catalog_file(tmp_path, HEADER, "code,Code,P,,2900,,3", "sicp,SICP,A,,4500,,-1")
    toml_path = tmp_path / "books.toml"
    toml_path.write_text(
        '[[books]]\nid = "code"\ntitle = "Code"\nauthor = "P"\nprice = 2900\nstock = "lots"\n',
        encoding="utf-8",
    )

    from_csv = run(settings, "catalog", "import", str(csv_path))
    from_toml = run(settings, "catalog", "import", str(toml_path))

    assert from_csv.exit_code == 1
    assert from_csv.stderr.splitlines()[0] == (
        "line 3: stock '-1' is not a whole number of copies from 0 to 999999 (or empty, to "
        "leave it as it is)"
    )
    assert from_toml.exit_code == 1
    assert from_toml.stderr.splitlines()[0] == (
        "line 1: stock 'lots' is not a whole number of copies from 0 to 999999 (or empty, to "
        "leave it as it is)"
    )
    assert levels(settings) == []
    assert run(settings, "catalog", "export").stdout == f"{HEADER}\n"  # no book either


def test_import_refuses_a_count_below_what_checkouts_hold_on_its_line(
    shelved: Settings, tmp_path: Path
) -> None:
    assert run(shelved, "stock", "set", "code", "5").exit_code == 0
    reserve(shelved, "checkout-1", [("code", 2)])
    path = catalog_file(
        tmp_path, HEADER, "sicp,SICP,A,,4500,,-x", "code,Code 2,P,,2900,,1", "new,New,A,,100,,3"
    )

    refused = run(shelved, "catalog", "import", str(path))
    skipped = run(shelved, "catalog", "import", "--skip-invalid", str(path))

    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[:2] == [
        "line 2: stock '-x' is not a whole number of copies from 0 to 999999 (or empty, to "
        "leave it as it is)",
        "line 3: stock 1 is below the 2 copies checkouts are paying for now; give at least that "
        "many",
    ]
    assert "Nothing was changed: 2 rows of" in refused.stderr
    # Skipped, that row's book keeps its title and its stock; the valid rows are imported.
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stdout == (
        "Imported 1 book: 1 added, 0 changed, 0 unchanged; stock: 1 set, 0 unchanged; "
        "2 invalid rows skipped.\n"
    )
    assert levels(shelved) == [StockLevel("code", 5, 2, 0), StockLevel("new", 3, 0, 0)]


def test_export_gives_copies_on_hand_and_imports_back_as_it_was(
    shelved: Settings, tmp_path: Path
) -> None:
    assert run(shelved, "stock", "set", "code", "6").exit_code == 0
    reserve(shelved, "checkout-1", [("code", 2)])
    exported = tmp_path / "exported.csv"

    result = run(shelved, "catalog", "export", str(exported))
    again = run(shelved, "catalog", "import", str(exported))

    assert result.exit_code == 0, result.output
    assert exported.read_text(encoding="utf-8").splitlines() == [
        HEADER,
        "code,Code,Charles Petzold,From flashlights up.,2900,,6",  # on hand, reserved included
        "sicp,SICP,Abelson and Sussman,,4500,,",  # not counted
    ]
    assert again.stdout == (
        "Imported 2 books: 0 added, 0 changed, 2 unchanged; stock: 0 set, 1 unchanged.\n"
    )
    assert levels(shelved) == [StockLevel("code", 6, 2, 0)]


def paid_intent(intent_id: str, *, refunded: bool = False) -> Intent:
    """A paid intent for one copy of Code, as Stripe has it (refunded in full, if so)."""
    charge = Charge(
        id=f"ch_{intent_id[3:]}",
        amount=CODE.price,
        currency="sgd",
        amount_refunded=CODE.price if refunded else 0,
        refunded=refunded,
        card_brand="visa",
        card_last4="4242",
        email="shopper@example.com",
        receipt_url=None,
    )
    return Intent(
        id=intent_id,
        status="succeeded",
        amount=CODE.price,
        currency="sgd",
        created=int(time.time()),
        client_secret="",
        lines=(IntentLine("code", 1, CODE.price),),
        checkout_id=f"checkout-{intent_id}",
        shipping=0,
        address=None,
        email="shopper@example.com",
        decline_code=None,
        charge_id=charge.id,
        charge=charge,
    )


def test_orders_shows_an_order_refunded_because_its_copies_were_gone(
    shelved: Settings,
) -> None:
    assert run(shelved, "stock", "set", "code", "0").exit_code == 0
    refunded, waiting = "pi_OutOfStockRefunded", "pi_OutOfStockWaiting"

    async def paid_for_copies_that_were_gone() -> None:
        ledger = Ledger(shelved.database_url)
        await ledger.open()
        try:
            for intent_id in (refunded, waiting):
                await ledger.record_payment(paid_intent(intent_id))  # no copy left: to refund
            assert set(await ledger.to_refund()) == {refunded, waiting}
            await ledger.apply_state(paid_intent(refunded, refunded=True))  # the keeper's refund
        finally:
            await ledger.close()

    run_async(paid_for_copies_that_were_gone())
    result = run(shelved, "orders")

    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    done = next(row for row in rows if refunded in row)
    assert done.startswith("refunded: out of stock  1 x Code")
    index = next(n for n, row in enumerate(rows) if waiting in row)
    assert rows[index].startswith("paid ")
    assert rows[index + 1].strip() == "DO NOT SHIP: being refunded, out of stock"


def test_orders_shows_an_order_refunded_for_another_reason_as_refunded(
    shelved: Settings,
) -> None:
    async def refunded_by_staff() -> None:
        ledger = Ledger(shelved.database_url)
        await ledger.open()
        try:
            await ledger.record_payment(paid_intent("pi_RefundedByStaff"))
            await ledger.apply_state(paid_intent("pi_RefundedByStaff", refunded=True))
        finally:
            await ledger.close()

    run_async(refunded_by_staff())
    [row] = [row for row in run(shelved, "orders").stdout.splitlines() if "pi_Refunded" in row]
    assert row.startswith("refunded  1 x Code")


def test_a_refund_reason_from_the_database_is_shown_visibly(shelved: Settings) -> None:
    async def odd_reason() -> None:
        ledger = Ledger(shelved.database_url)
        await ledger.open()
        try:
            await ledger.record_payment(paid_intent("pi_OddReason", refunded=True))
            async with ledger.database.transaction() as connection:
                await connection.execute(update(orders).values(refund_reason="gone\x1b[2J"))
        finally:
            await ledger.close()

    run_async(odd_reason())
    result = run(shelved, "orders")
    assert "\x1b" not in result.output
    assert "refunded: gone\\x1b[2J" in result.stdout
