"""The catalog in the database: reads by id, pages in each sort order, search, writes and the
per-process cache, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bookshop.catalog import Book, Catalog, search
from bookshop.catalog.store import CACHE_SECONDS, PAGE_SIZE
from bookshop.database import Database
from bookshop.orders.migrate import upgrade
from tests.fixtures.catalogs import generated_books

BOOKS = [
    Book("secret-garden", "The Secret Garden", "Frances Hodgson Burnett", "", 1200,
         "9780141321066"),
    Book("gardener", "A Year of Roses", "Monty Garden", "", 1500),
    Book("mythical-man-month", "The Mythical Man-Month", "Frederick P. Brooks Jr.", "", 3200,
         "9780201835953"),
    Book("cafe-society", "Café Society", "Zoë Núñez", "", 900),
    Book("percent", "100% Pure Data_Science", "O'Brien \"Quote\" Smith", "", 2000),
]  # fmt: skip
# Whatever a shopper can type: each is a query, never an error or engine syntax.
HOSTILE = [
    '"',
    '""',
    "'",
    "*",
    "garden*",
    "NEAR(garden roses)",
    "garden OR roses",
    "garden AND NOT roses",
    "-garden",
    "title:garden",
    "^garden",
    "garden\\",
    "\\",
    "%",
    "_",
    "%_%",
    "a & b | !c <-> d:*",
    "(((",
    "{garden}",
    "'; DROP TABLE books; --",
    "\x00\x1b[31m",
    "ﷺ" * 100,
    "x" * 100,
    " ".join(["garden"] * 50),
]


@pytest.fixture
async def catalog(database_url: str) -> AsyncIterator[Catalog]:
    """A catalog of BOOKS in a fresh database."""
    database = Database(database_url)
    await database.open()
    await upgrade(database)
    catalog = Catalog(database)
    await catalog.write(BOOKS)
    try:
        yield catalog
    finally:
        await database.close()


async def ids(catalog: Catalog, query: str, sort: str = "relevance", page: int = 1) -> list[str]:
    """The ids of a page of search results."""
    return [book.id for book in (await catalog.page(page, sort, query)).books]


async def test_a_book_is_read_by_its_id_with_every_field(catalog: Catalog) -> None:
    assert await catalog.get("secret-garden") == BOOKS[0]
    assert await catalog.get("no-such-book") is None
    found = await catalog.get_many(["percent", "no-such-book", "gardener"])
    assert found == {"percent": BOOKS[4], "gardener": BOOKS[1]}


async def test_search_finds_title_author_and_isbn_words_by_prefix_ignoring_case(
    catalog: Catalog,
) -> None:
    assert await ids(catalog, "mythical") == ["mythical-man-month"]
    assert await ids(catalog, "MYTH") == ["mythical-man-month"]
    assert await ids(catalog, "brooks frederick") == ["mythical-man-month"]
    assert await ids(catalog, "man-month") == ["mythical-man-month"]
    assert await ids(catalog, "9780201835953") == ["mythical-man-month"]
    assert await ids(catalog, "978020") == ["mythical-man-month"]


async def test_an_isbn_is_found_with_or_without_its_hyphens(catalog: Catalog) -> None:
    for typed in ("978-0-14-132106-6", "978 0 14 132106 6", "9780141321066", "978-0-14"):
        assert await ids(catalog, typed) == ["secret-garden"], typed


async def test_a_title_match_ranks_above_an_author_match(catalog: Catalog) -> None:
    assert await ids(catalog, "garden") == ["secret-garden", "gardener"]
    assert await ids(catalog, "gard") == ["secret-garden", "gardener"]


async def test_every_word_must_match(catalog: Catalog) -> None:
    assert await ids(catalog, "secret garden") == ["secret-garden"]
    assert await ids(catalog, "secret roses") == []


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
async def test_whatever_a_shopper_types_is_a_query_never_an_error(
    catalog: Catalog, query: str
) -> None:
    page = await catalog.page(1, "relevance", query)
    # Only the words count: "NEAR(garden roses)" is two words, "garden OR roses" three.
    assert all(book.id in {b.id for b in BOOKS} for book in page.books)


async def test_operators_are_plain_words(catalog: Catalog) -> None:
    assert await ids(catalog, "garden OR roses") == []  # "or" is a word no book has
    assert await ids(catalog, "-garden") == ["secret-garden", "gardener"]
    assert await ids(catalog, "garden*") == ["secret-garden", "gardener"]
    assert await ids(catalog, "100% pure") == ["percent"]
    assert await ids(catalog, "data_science") == ["percent"]
    assert await ids(catalog, '"quote"') == ["percent"]
    assert await ids(catalog, "%") == []


async def test_accents_match_as_typed(catalog: Catalog, database_url: str) -> None:
    assert await ids(catalog, "café") == ["cafe-society"]
    assert await ids(catalog, "Núñez") == ["cafe-society"]
    if database_url.startswith("sqlite"):
        # FTS5 folds diacritics; PostgreSQL's 'simple' configuration keeps them.
        assert await ids(catalog, "cafe nunez") == ["cafe-society"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["percent", "gardener", "cafe-society", "mythical-man-month", "secret-garden"]),
        ("price", ["cafe-society", "secret-garden", "gardener", "percent", "mythical-man-month"]),
        ("newest", ["percent", "cafe-society", "mythical-man-month", "gardener", "secret-garden"]),
    ],
)
async def test_the_grid_is_sorted_by_title_price_or_newest(
    catalog: Catalog, sort: str, expected: list[str]
) -> None:
    assert await ids(catalog, "", sort) == expected


async def test_search_results_can_be_sorted_too(catalog: Catalog) -> None:
    assert await ids(catalog, "garden", "price") == ["secret-garden", "gardener"]
    assert await ids(catalog, "garden", "title") == ["gardener", "secret-garden"]


async def test_pages_hold_page_size_books_and_say_whether_another_follows(
    catalog: Catalog,
) -> None:
    more = generated_books(PAGE_SIZE * 2 + 1)
    await catalog.write(more)
    total = len(BOOKS) + len(more)
    seen: list[str] = []
    number = 1
    while True:
        page = await catalog.page(number, "title")
        seen += [book.id for book in page.books]
        if not page.has_next:
            break
        assert len(page.books) == PAGE_SIZE
        number += 1
    assert number == -(-total // PAGE_SIZE)
    assert len(seen) == len(set(seen)) == total
    assert (await catalog.page(number + 1, "title")).books == ()


async def test_a_write_adds_new_books_changes_others_and_leaves_equal_ones_alone(
    catalog: Catalog,
) -> None:
    cheaper = replace(BOOKS[0], price=999)
    new = Book("new-book", "A New Book", "Someone", "", 100)
    written = await catalog.write([cheaper, BOOKS[1], new])
    assert (written.added, written.changed) == (1, 1)
    assert await catalog.get("secret-garden") == cheaper
    assert (await catalog.write([cheaper, BOOKS[1], new])).changed == 0


async def test_a_renamed_book_is_searched_by_its_new_title_only(catalog: Catalog) -> None:
    await catalog.write([replace(BOOKS[0], title="The Walled Orchard")])
    assert await ids(catalog, "orchard") == ["secret-garden"]
    assert await ids(catalog, "garden") == ["gardener"]


async def test_a_change_made_elsewhere_shows_within_the_cache_time(
    catalog: Catalog, database_url: str
) -> None:
    # Another shop process (or the import command) changes a price and a title.
    assert (await catalog.get("gardener")) == BOOKS[1]
    assert await ids(catalog, "roses") == ["gardener"]
    other = Database(database_url)
    await other.open()
    try:
        await Catalog(other).write([replace(BOOKS[1], price=1600, title="A Year of Tulips")])
    finally:
        await other.close()
    await asyncio.sleep(CACHE_SECONDS + 0.1)
    assert (await catalog.get("gardener")) == replace(
        BOOKS[1], price=1600, title="A Year of Tulips"
    )
    assert await ids(catalog, "tulips") == ["gardener"]
    assert CACHE_SECONDS <= 1


async def test_an_empty_catalog_is_seeded_once_from_a_toml_file(
    database_url: str, tmp_path: pytest.TempPathFactory
) -> None:
    seed = tmp_path / "books.toml"  # type: ignore[operator]
    seed.write_text('[[books]]\nid = "one"\ntitle = "One"\nauthor = "A"\nblurb = ""\nprice = 100\n')
    database = Database(database_url)
    await database.open()
    await upgrade(database)
    try:
        catalog = Catalog(database)
        assert await catalog.seed(seed) == 1
        await catalog.write([Book("one", "One, revised", "A", "", 200)])
        assert await catalog.seed(seed) == 0  # not empty: the shopkeeper's catalog stays
        assert (await catalog.get("one")) == Book("one", "One, revised", "A", "", 200)
    finally:
        await database.close()


async def test_a_search_ranks_only_its_first_matches(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    await catalog.write([Book(f"garden-{n}", f"Garden {n}", "Someone", "", 100) for n in range(30)])
    monkeypatch.setattr(search, "MAX_RANKED", 5)
    page = await catalog.page(1, "relevance", "garden")
    # Five of the 32 books that match, each a real match, and no page after them.
    assert len(page.books) == 5 and not page.has_next
    assert all("garden" in (book.title + book.author).lower() for book in page.books)
