"""`quart --app bookshop catalog import` and `catalog export`, on SQLite and PostgreSQL.

These are plain `def` tests: the commands run their own event loop, as they do from a shell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bookshop import create_app
from bookshop.catalog.books import Book
from bookshop.catalog.schema import BOOK_COLUMNS, book_of, books
from bookshop.catalog.store import Catalog, Written
from bookshop.config import Settings
from bookshop.database import Database
from bookshop.orders.migrate import upgrade
from tests.fixtures.catalogs import generated_books, write_catalog_csv
from tests.fixtures.database import run_async

HEADER = "id,title,author,blurb,price,isbn"
# More books than one batch of Catalog.write (1000), so every batch path runs.
MANY = 2500


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The shop's settings on this test's database (SQLite, then PostgreSQL); no Stripe call is
    made by these commands."""
    return Settings(database_url=database_url, env="test", secret_key="test-secret")


def run(settings: Settings, *args: str) -> Result:
    """Run a `quart --app bookshop` command against these settings."""
    result: Result = create_app(settings).test_cli_runner().invoke(args=list(args))
    return result


def stored(settings: Settings) -> dict[str, tuple[Book, datetime]]:
    """Every book in the database, by id, with the time it was last updated."""

    async def read() -> dict[str, tuple[Book, datetime]]:
        database = Database(settings.database_url)
        await database.open()
        try:
            await upgrade(database)
            async with database.reading() as connection:
                rows = await connection.execute(select(*BOOK_COLUMNS, books.c.updated_at))
                return {row.id: (book_of(row), row.updated_at) for row in rows}
        finally:
            await database.close()

    return run_async(read())


def stored_books(settings: Settings) -> list[Book]:
    """Every book in the database, in id order."""
    return [book for _, (book, _) in sorted(stored(settings).items())]


def csv_file(tmp_path: Path, *lines: str, name: str = "books.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def test_import_adds_a_csvs_books_ignoring_extra_columns(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        f"{HEADER},notes",
        "code,Code,Charles Petzold,From flashlights up,2900,978-0-7356-1131-3,reorder",
        "sicp,SICP,Abelson and Sussman,,4500,,",
    )
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Imported 2 books: 2 added, 0 changed, 0 unchanged.\n"
    assert result.stderr == ""
    assert stored_books(settings) == [
        Book("code", "Code", "Charles Petzold", "From flashlights up", 2900, "9780735611313"),
        Book("sicp", "SICP", "Abelson and Sussman", "", 4500, None),
    ]


def test_import_of_many_books_adds_them_all_across_batches(
    settings: Settings, tmp_path: Path
) -> None:
    books = generated_books(MANY)
    path = write_catalog_csv(tmp_path / "books.csv", books)
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Imported {MANY} books: {MANY} added, 0 changed, 0 unchanged.\n"
    assert stored_books(settings) == books


def test_import_reads_a_toml_catalog(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "books.toml"
    path.write_text(
        '[[books]]\nid = "code"\ntitle = "Code"\nauthor = "Charles Petzold"\n'
        'blurb = "From flashlights up."\nprice = 2900\nisbn = "9780735611313"\n\n'
        '[[books]]\nid = "sicp"\ntitle = "SICP"\nauthor = "Abelson and Sussman"\nprice = 4500\n',
        encoding="utf-8",
    )
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Imported 2 books: 2 added, 0 changed, 0 unchanged.\n"
    assert stored_books(settings) == [
        Book("code", "Code", "Charles Petzold", "From flashlights up.", 2900, "9780735611313"),
        Book("sicp", "SICP", "Abelson and Sussman", "", 4500, None),
    ]


def test_import_with_bad_rows_lists_them_by_line_and_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        HEADER,
        "code,Code,Petzold,,2900,",
        "Bad Slug,T,A,,100,",
        "price,T,A,,abc,",
        "code,Code again,Someone,,100,",
    )
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "line 3: id 'Bad Slug' is not a lowercase slug (a-z, 0-9, single hyphens) of at most 60 "
        "characters",
        "line 4: price 'abc' is not a whole number of minor units from 1 to 999999999",
        "line 5: id 'code' already on line 2",
        "Error: Nothing was changed: 3 rows of "
        f"{str(path)!r} are invalid. Fix them, or pass --skip-invalid to import the valid rows "
        "alone.",
    ]
    assert stored(settings) == {}


def test_import_with_a_bad_row_leaves_the_existing_catalog_as_it_was(
    settings: Settings, tmp_path: Path
) -> None:
    first = write_catalog_csv(tmp_path / "first.csv", generated_books(MANY))
    assert run(settings, "catalog", "import", str(first)).exit_code == 0
    before = stored(settings)
    changed = [dataclasses.replace(book, price=book.price + 1) for book in generated_books(MANY)]
    second = write_catalog_csv(tmp_path / "second.csv", changed)
    with second.open("a", encoding="utf-8") as stream:
        stream.write("new-book,New,Author,,0,\n")
    result = run(settings, "catalog", "import", str(second))
    assert result.exit_code == 1
    assert f"line {MANY + 2}: price 0 is not" in result.stderr
    assert stored(settings) == before


def test_skip_invalid_imports_the_good_rows_and_says_how_many_were_skipped(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        HEADER,
        "code,Code,Petzold,,2900,",
        "Bad Slug,T,A,,100,",
        "sicp,SICP,Abelson,,4500,9780262510875",
        "check,T,A,,100,9780262510876",
    )
    result = run(settings, "catalog", "import", "--skip-invalid", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Imported 2 books: 2 added, 0 changed, 0 unchanged; 2 invalid rows skipped.\n"
    )
    assert "line 3: id 'Bad Slug'" in result.stderr
    assert "line 5: isbn '9780262510876' is not an ISBN-13" in result.stderr
    assert sorted(stored(settings)) == ["code", "sicp"]


def test_skip_invalid_still_refuses_a_file_missing_a_column(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "id,title,author,blurb,isbn", "code,Code,Petzold,,")
    result = run(settings, "catalog", "import", "--skip-invalid", str(path))
    assert result.exit_code == 1
    assert "line 1: the header lacks the column 'price'" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert stored(settings) == {}


def test_importing_the_same_file_again_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    path = write_catalog_csv(tmp_path / "books.csv", generated_books(MANY))
    assert run(settings, "catalog", "import", str(path)).exit_code == 0
    before = stored(settings)
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Imported {MANY} books: 0 added, 0 changed, {MANY} unchanged.\n"
    assert stored(settings) == before  # the rows and their updated_at alike


def test_an_import_changing_one_price_changes_only_that_book(
    settings: Settings, tmp_path: Path
) -> None:
    books = generated_books(MANY)
    first = run(settings, "catalog", "import", str(write_catalog_csv(tmp_path / "a.csv", books)))
    assert first.exit_code == 0, first.output
    before = stored(settings)
    books[1234] = dataclasses.replace(books[1234], price=books[1234].price + 100)
    result = run(settings, "catalog", "import", str(write_catalog_csv(tmp_path / "b.csv", books)))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Imported {MANY} books: 0 added, 1 changed, {MANY - 1} unchanged.\n"
    after = stored(settings)
    changed_id = books[1234].id
    assert after[changed_id][0] == books[1234]
    assert after[changed_id][1] > before[changed_id][1]
    assert {key: value for key, value in after.items() if key != changed_id} == {
        key: value for key, value in before.items() if key != changed_id
    }


def test_an_import_adding_and_changing_books_counts_each(
    settings: Settings, tmp_path: Path
) -> None:
    books = generated_books(10)
    first = run(settings, "catalog", "import", str(write_catalog_csv(tmp_path / "a.csv", books)))
    assert first.exit_code == 0, first.output
    books[0] = dataclasses.replace(books[0], title="A New Title")
    more = [*books, *generated_books(12)[10:]]
    result = run(settings, "catalog", "import", str(write_catalog_csv(tmp_path / "b.csv", more)))
    assert result.stdout == "Imported 12 books: 2 added, 1 changed, 9 unchanged.\n"
    assert stored_books(settings) == more


def test_export_writes_the_csv_that_import_reads(settings: Settings, tmp_path: Path) -> None:
    books = [
        *generated_books(MANY),
        Book("z-quotes", 'The "Best", Book', "O'Brien", "Ça va? 日本語", 1, "9780262510875"),
    ]
    original = write_catalog_csv(tmp_path / "books.csv", books)
    assert run(settings, "catalog", "import", str(original)).exit_code == 0
    exported = tmp_path / "exported.csv"
    result = run(settings, "catalog", "export", str(exported))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Exported {MANY + 1} books to {str(exported)!r}.\n"
    assert exported.read_bytes() == original.read_bytes()
    again = run(settings, "catalog", "import", str(exported))
    assert again.stdout == f"Imported {MANY + 1} books: 0 added, 0 changed, {MANY + 1} unchanged.\n"


def test_export_without_a_file_or_with_dash_writes_csv_to_stdout(
    settings: Settings, tmp_path: Path
) -> None:
    original = write_catalog_csv(tmp_path / "books.csv", generated_books(5))
    assert run(settings, "catalog", "import", str(original)).exit_code == 0
    for args in ((), ("-",)):
        result = run(settings, "catalog", "export", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout == original.read_text(encoding="utf-8")


def test_export_of_an_empty_catalog_is_the_header_alone(settings: Settings) -> None:
    result = run(settings, "catalog", "export")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{HEADER},stock\n"


def test_a_file_that_is_not_utf8_is_a_clear_message_not_a_traceback(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "books.csv"
    path.write_bytes(f"{HEADER}\n".encode() + "cafe,Café,A,,100,\n".encode("cp1252"))
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.startswith("line 2: the file is not UTF-8 text (byte 0xe9")
    assert "Nothing was changed" in result.stderr
    assert stored(settings) == {}


def test_control_characters_in_a_problem_are_shown_escaped(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, HEADER, "\x1b[2J\u202ebad,T,A,,100,")
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "\u202e" not in result.stderr
    assert r"line 2: id '\x1b[2J\u202ebad' is not a lowercase slug" in result.stderr


def test_at_most_fifty_problems_are_listed_then_the_rest_counted(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, HEADER, *(f"book-{n},T,A,,0," for n in range(60)))
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("line 2: price 0")
    assert lines[49].startswith("line 51: price 0")
    assert lines[50] == "... and 10 more"
    assert lines[51].startswith("Error: Nothing was changed: 60 rows of")


def test_import_of_a_missing_file_is_a_usage_error(settings: Settings, tmp_path: Path) -> None:
    result = run(settings, "catalog", "import", str(tmp_path / "nowhere.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_a_database_failure_part_way_says_how_far_the_import_got(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batch = Catalog._write_batch
    calls = 0

    async def failing_second_batch(catalog: Catalog, batch: Sequence[Book]) -> Written:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT ...", {}, OSError("disk I/O error"))
        return await write_batch(catalog, batch)

    monkeypatch.setattr(Catalog, "_write_batch", failing_second_batch)
    path = write_catalog_csv(tmp_path / "books.csv", generated_books(MANY))
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: The import stopped after 1000 of {MANY} books were written (OSError: disk I/O "
        "error). Importing the file again is safe: it changes only what differs.\n"
    )
    assert len(stored(settings)) == 1000
    monkeypatch.undo()
    again = run(settings, "catalog", "import", str(path))
    assert again.stdout == (
        f"Imported {MANY} books: {MANY - 1000} added, 0 changed, 1000 unchanged.\n"
    )


def test_export_to_a_folder_that_does_not_exist_is_a_clear_message(
    settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "books.csv"
    result = run(settings, "catalog", "export", str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The export failed (FileNotFoundError: ")
    assert not target.parent.exists()


def test_a_bad_rows_text_is_shown_with_its_control_characters_made_visible(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, HEADER, "\x1b[2Jevil,Title,Author,,100,")
    result = run(settings, "catalog", "import", str(path))
    assert result.exit_code == 1
    assert "\x1b" not in result.output
    assert "\\x1b[2Jevil" in result.output


def retire(settings: Settings, book_id: str) -> None:
    """Take a book off sale, as the back office does."""

    async def write() -> None:
        database = Database(settings.database_url)
        await database.open()
        try:
            await upgrade(database)
            async with database.transaction() as connection:
                assert await Catalog(database).retire_in(connection, book_id, True)
        finally:
            await database.close()

    run_async(write())


def test_export_leaves_retired_books_out(settings: Settings, tmp_path: Path) -> None:
    original = write_catalog_csv(tmp_path / "books.csv", generated_books(3))
    assert run(settings, "catalog", "import", str(original)).exit_code == 0
    retire(settings, generated_books(3)[1].id)
    result = run(settings, "catalog", "export")
    assert result.exit_code == 0, result.output
    lines = original.read_text(encoding="utf-8").splitlines()
    assert result.stdout.splitlines() == [lines[0], lines[1], lines[3]]


def test_an_import_updates_a_retired_book_and_says_it_stays_retired(
    settings: Settings, tmp_path: Path
) -> None:
    books = generated_books(3)
    first = run(settings, "catalog", "import", str(write_catalog_csv(tmp_path / "a.csv", books)))
    assert first.exit_code == 0, first.output
    retire(settings, books[1].id)
    books[1] = dataclasses.replace(books[1], title="A New Title")
    result = run(settings, "catalog", "import", str(write_catalog_csv(tmp_path / "b.csv", books)))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Imported 3 books: 0 added, 1 changed, 2 unchanged; 1 retired book stayed retired "
        "(return it to sale in the back office).\n"
    )
    assert stored(settings)[books[1].id][0].title == "A New Title"
    assert "A New Title" not in run(settings, "catalog", "export").stdout
