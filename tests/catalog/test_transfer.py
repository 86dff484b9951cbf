"""Reading catalog files (CSV and TOML) into checked books with line-numbered problems, and
writing CSV; no database here."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from bookshop.catalog.books import Book, isbn13_is_valid, make_book
from bookshop.catalog.transfer import Problem, StockCount, read_catalog, write_csv
from bookshop.config import SEED_FILE
from tests.fixtures.catalogs import generated_books, write_catalog_csv

HEADER = "id,title,author,blurb,price,isbn"
GOOD = "code,Code,Charles Petzold,From flashlights up,2900,9780735611313"


def csv_file(tmp_path: Path, *lines: str, name: str = "books.csv") -> Path:
    """A file holding these lines (joined by newlines) as UTF-8."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def test_csv_rows_become_books_in_file_order(tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER, GOOD, "sicp,SICP,Abelson and Sussman,,4500,")
    books, problems, _ = read_catalog(path)
    assert problems == []
    assert books == [
        Book("code", "Code", "Charles Petzold", "From flashlights up", 2900, "9780735611313"),
        Book("sicp", "SICP", "Abelson and Sussman", "", 4500, None),
    ]


def test_csv_extra_columns_are_ignored_and_columns_may_come_in_any_order(
    tmp_path: Path,
) -> None:
    path = csv_file(
        tmp_path,
        "price,isbn,notes,id,title,author,blurb,shelf",
        "2900,,reorder soon,code,Code,Charles Petzold,From flashlights up,B4",
    )
    books, problems, _ = read_catalog(path)
    assert problems == []
    assert books == [Book("code", "Code", "Charles Petzold", "From flashlights up", 2900, None)]


def test_csv_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "books.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{GOOD}\r\n".encode())
    books, problems, _ = read_catalog(path)
    assert problems == []
    assert [book.id for book in books] == ["code"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("Not A Slug,T,A,,100,", "line 3: id 'Not A Slug' is not a lowercase slug"),
        (f"long,{'t' * 301},A,,100,", "line 3: title is longer than 300 characters"),
        ("free,T,A,,0,", "line 3: price 0 is not a whole number of minor units"),
        ("abc,T,A,,abc,", "line 3: price 'abc' is not a whole number of minor units"),
        ("dear,T,A,,1000000000,", "line 3: price 1000000000 is not a whole number"),
        ("check,T,A,,100,9780735611314", "line 3: isbn '9780735611314' is not an ISBN-13"),
        ("anon,T,,,100,", "line 3: author is missing"),
    ],
    ids=[
        "bad-slug",
        "long-title",
        "price-0",
        "price-not-a-number",
        "price-too-big",
        "isbn-check-digit",
        "missing-author",
    ],
)
def test_a_bad_row_is_a_problem_at_its_line_and_the_others_are_read(
    tmp_path: Path, row: str, expected: str
) -> None:
    path = csv_file(tmp_path, HEADER, GOOD, row, "sicp,SICP,Abelson,,4500,")
    books, problems, _ = read_catalog(path)
    assert [book.id for book in books] == ["code", "sicp"]
    assert len(problems) == 1
    assert str(problems[0]).startswith(expected)
    assert problems[0].row


def test_every_problem_of_a_row_is_in_its_one_problem(tmp_path: Path) -> None:
    books, problems, _ = read_catalog(csv_file(tmp_path, HEADER, "Bad Id,,A,,0,123"))
    assert books == []
    [problem] = problems
    assert problem.line == 2
    for part in ("id 'Bad Id'", "title is missing", "price 0", "isbn '123'"):
        assert part in problem.message


def test_isbn_with_hyphens_and_spaces_is_accepted_as_its_digits(tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER, "code,Code,Petzold,,2900,978-0-7356 1131-3")
    books, problems, _ = read_catalog(path)
    assert problems == []
    assert books[0].isbn == "9780735611313"


def test_a_repeated_id_names_both_lines_and_the_first_row_is_kept(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path, HEADER, GOOD, "sicp,SICP,Abelson,,4500,", "code,Code again,Someone,,100,"
    )
    books, problems, _ = read_catalog(path)
    assert messages(problems) == ["line 4: id 'code' already on line 2"]
    assert [(book.id, book.title) for book in books] == [("code", "Code"), ("sicp", "SICP")]


def test_line_numbers_count_every_line_of_a_quoted_multiline_field(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        HEADER,
        GOOD,
        'poem,Poem,Someone,"One line,',
        "a second,",
        'and a third",2900,',
        "",  # a blank line is skipped, but counted
        "sicp,SICP,Abelson,,0,",
    )
    books, problems, _ = read_catalog(path)
    # A blurb may run over several lines; the rows after it are named by their own lines.
    assert [book.id for book in books] == ["code", "poem"]
    assert books[1].blurb == "One line,\na second,\nand a third"
    assert messages(problems) == [
        "line 7: price 0 is not a whole number of minor units from 1 to 999999999",
    ]


def test_a_missing_column_is_one_problem_about_the_header(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "id,title,author,blurb", "code,Code,Petzold,Blurb")
    books, problems, _ = read_catalog(path)
    assert books == []
    assert messages(problems) == [
        "line 1: the header lacks the columns 'price', 'isbn': a CSV catalog starts with the "
        "header row id,title,author,blurb,price,isbn"
    ]
    assert not problems[0].row


def test_an_empty_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "books.csv"
    path.write_bytes(b"")
    books, problems, _ = read_catalog(path)
    assert books == []
    assert len(problems) == 1
    assert "the file is empty" in str(problems[0])


def test_a_header_alone_is_an_empty_catalog(tmp_path: Path) -> None:
    assert read_catalog(csv_file(tmp_path, HEADER)) == ([], [], [])


def test_a_row_too_short_for_the_header_is_a_problem(tmp_path: Path) -> None:
    books, problems, _ = read_catalog(csv_file(tmp_path, HEADER, "code,Code,Petzold"))
    assert books == []
    assert messages(problems) == ["line 2: only 3 fields where the header names 6"]


def test_text_that_is_not_utf8_is_one_problem_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "books.csv"
    path.write_bytes(f"{HEADER}\n{GOOD}\n".encode() + "café,Café,A,,100,\n".encode("latin-1"))
    books, problems, _ = read_catalog(path)
    assert books == []
    [problem] = problems
    assert problem.line == 3
    assert not problem.row
    assert "not UTF-8" in str(problem)
    assert "0xe9" in str(problem)


def test_malformed_quoting_stops_the_read_with_a_problem_for_the_whole_file(
    tmp_path: Path,
) -> None:
    path = csv_file(tmp_path, HEADER, GOOD, 'bad,"T"x,A,,100,', "sicp,SICP,Abelson,,4500,")
    _, problems, _ = read_catalog(path)
    assert len(problems) == 1
    assert problems[0].line == 3
    assert not problems[0].row
    assert "not CSV" in problems[0].message


TOML = """\
# A catalog in the shop's TOML layout. A line separator (\u2028), which splitlines() counts,
# is no line end in TOML.

[[books]]
id = "code"
title = "Code"
author = "Charles Petzold"
blurb = "From flashlights up."
price = 2900
isbn = "978-0-7356-1131-3"

[[books]]
id = "bad"
title = "Bad"
author = "Someone"
price = 0

  [[books]]
id = "code"
title = "Code, again"
author = "Someone"
price = 100
"""


def test_toml_books_are_read_and_problems_name_their_books_header_line(tmp_path: Path) -> None:
    path = tmp_path / "books.toml"
    path.write_text(TOML, encoding="utf-8")
    books, problems, _ = read_catalog(path)
    assert books == [
        Book("code", "Code", "Charles Petzold", "From flashlights up.", 2900, "9780735611313")
    ]
    assert messages(problems) == [
        "line 12: price 0 is not a whole number of minor units from 1 to 999999999",
        "line 18: id 'code' already on line 4",
    ]


def test_the_shops_own_books_toml_reads_without_problems() -> None:
    books, problems, _ = read_catalog(SEED_FILE)
    assert problems == []
    assert len(books) >= 11


def test_a_toml_syntax_error_is_one_problem_with_tomllibs_message(tmp_path: Path) -> None:
    path = tmp_path / "books.toml"
    path.write_text('[[books]]\nid = "code"\ntitle = Code\n', encoding="utf-8")
    books, problems, _ = read_catalog(path)
    assert books == []
    [problem] = problems
    assert not problem.row
    assert str(problem).startswith("the file is not valid TOML: Invalid value (at line 3")


def test_toml_tables_the_line_scan_cannot_find_are_named_by_their_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "books.toml"
    path.write_text(
        'books = [{id = "ok", title = "T", author = "A", price = 1},'
        ' {id = "bad", title = "T", author = "A", price = 0}]\n',
        encoding="utf-8",
    )
    books, problems, _ = read_catalog(path)
    assert [book.id for book in books] == ["ok"]
    assert messages(problems) == [
        "book 2 of the file: price 0 is not a whole number of minor units from 1 to 999999999"
    ]


def test_written_csv_has_the_header_and_an_empty_isbn_and_stock_for_none() -> None:
    stream = io.StringIO(newline="")
    count = write_csv([Book("code", "Code", "Petzold", "Blurb, with a comma", 2900)], stream)
    assert count == 1
    assert stream.getvalue() == (
        'id,title,author,blurb,price,isbn,stock\ncode,Code,Petzold,"Blurb, with a comma",2900,,\n'
    )


def test_written_csv_gives_the_copies_on_hand_of_counted_books() -> None:
    stream = io.StringIO(newline="")
    books = [Book("code", "Code", "Petzold", "", 2900), Book("sicp", "SICP", "Abelson", "", 4500)]
    write_csv(books, stream, {"code": 0, "hackers": 3})
    assert stream.getvalue().splitlines()[1:] == [
        "code,Code,Petzold,,2900,,0",
        "sicp,SICP,Abelson,,4500,,",
    ]


def test_a_stock_column_gives_copies_on_hand_and_an_empty_one_gives_none(
    tmp_path: Path,
) -> None:
    path = csv_file(
        tmp_path,
        f"stock,{HEADER}",
        f"5,{GOOD}",
        " ,sicp,SICP,Abelson,,4500,",
        "0,hackers,Hackers,Levy,,1800,",
    )
    books, problems, stock = read_catalog(path)
    assert problems == []
    assert [book.id for book in books] == ["code", "sicp", "hackers"]
    assert stock == [StockCount("code", 5, 2), StockCount("hackers", 0, 4)]


def test_a_row_may_stop_before_a_last_stock_column_which_is_then_empty(tmp_path: Path) -> None:
    path = csv_file(tmp_path, f"{HEADER},stock", GOOD, "sicp,SICP,Abelson,,4500,,2")
    books, problems, stock = read_catalog(path)
    assert problems == []
    assert [book.id for book in books] == ["code", "sicp"]
    assert stock == [StockCount("sicp", 2, 3)]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("-1", "'-1'"),
        ("many", "'many'"),
        ("1.5", "'1.5'"),
        ("1000000", "1000000"),
        ("\u0665", "'\u0665'"),  # an Arabic-Indic five: a digit, but not 0-9
    ],
)
def test_a_bad_stock_value_is_a_problem_at_its_line_and_gives_no_count(
    tmp_path: Path, value: str, shown: str
) -> None:
    path = csv_file(tmp_path, f"{HEADER},stock", f"{GOOD},{value}", "sicp,SICP,A,,4500,,1")
    books, problems, stock = read_catalog(path)
    assert [book.id for book in books] == ["sicp"]
    assert messages(problems) == [
        f"line 2: stock {shown} is not a whole number of copies from 0 to 999999 (or empty, "
        "to leave it as it is)"
    ]
    assert stock == [StockCount("sicp", 1, 3)]


def test_a_bad_row_with_a_good_stock_gives_no_count(tmp_path: Path) -> None:
    path = csv_file(tmp_path, f"{HEADER},stock", "code,Code,Petzold,,0,,4")
    books, problems, stock = read_catalog(path)
    assert (books, stock) == ([], [])
    assert messages(problems) == [
        "line 2: price 0 is not a whole number of minor units from 1 to 999999999"
    ]


def test_toml_books_give_stock_as_a_key_and_a_bad_one_is_a_problem_at_its_header(
    tmp_path: Path,
) -> None:
    path = tmp_path / "books.toml"
    path.write_text(
        '[[books]]\nid = "code"\ntitle = "Code"\nauthor = "Petzold"\nprice = 2900\nstock = 4\n\n'
        '[[books]]\nid = "sicp"\ntitle = "SICP"\nauthor = "Abelson"\nprice = 4500\n\n'
        '[[books]]\nid = "bad"\ntitle = "Bad"\nauthor = "A"\nprice = 100\nstock = -2\n',
        encoding="utf-8",
    )
    books, problems, stock = read_catalog(path)
    assert [book.id for book in books] == ["code", "sicp"]
    assert stock == [StockCount("code", 4, 1)]
    assert messages(problems) == [
        "line 14: stock -2 is not a whole number of copies from 0 to 999999 (or empty, to leave "
        "it as it is)"
    ]


def test_a_count_of_a_toml_table_without_a_line_names_its_book(tmp_path: Path) -> None:
    path = tmp_path / "books.toml"
    path.write_text(
        'books = [{id = "ok", title = "T", author = "A", price = 1, stock = 3}]\n',
        encoding="utf-8",
    )
    _, _, [count] = read_catalog(path)
    assert count == StockCount("ok", 3, None, "book 1 of the file")
    assert str(count.problem("too few")) == "book 1 of the file: too few"


def test_written_csv_reads_back_as_the_same_books(tmp_path: Path) -> None:
    awkward = [
        Book("quotes", 'The "Best" Book', "O'Brien, Flann", 'He said "no", then left.', 1),
        Book("accents", "Gödel, Escher, Bach", "Douglas Hofstadter", "Ça va? 日本語", 3500),
        Book("spaces", "Title", "Author", "", 999_999_999, "9780735611313"),
    ]
    books = [*awkward, *generated_books(50)]
    path = write_catalog_csv(tmp_path / "books.csv", books)
    assert read_catalog(path) == (books, [], [])


def test_generated_books_are_valid_distinct_and_the_same_every_time() -> None:
    books = generated_books(300)
    assert books == generated_books(300)
    assert books[:100] == generated_books(100)
    assert [book.id for book in books[:2]] == ["book-000001", "book-000002"]
    assert len({book.id for book in books}) == 300
    assert all(make_book(dataclasses.asdict(book)) == book for book in books)
    with_isbn = [book.isbn for book in books if book.isbn]
    assert 250 <= len(with_isbn) < 300
    assert all(isbn13_is_valid(isbn) for isbn in with_isbn)
    assert len({book.price for book in books}) > 100
