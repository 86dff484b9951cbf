"""The catalog in the database: reads by id, pages in each sort order, search, writes and the
per-process cache, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bookshop.catalog import Book, Catalog, search
from bookshop.catalog.store import (
    CACHE_SECONDS,
    EVERY,
    LISTING_PAGE_SIZE,
    ON_SALE,
    PAGE_SIZE,
    RETIRED,
    Entry,
)
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


async def retire(catalog: Catalog, book_id: str, retired: bool = True) -> bool:
    """Retire a book (or return it to sale) in a transaction of its own, as the back office
    does; whether that changed it."""
    async with catalog.database.transaction() as connection:
        changed = await catalog.retire_in(connection, book_id, retired)
    catalog.forget()
    return changed


async def listed(catalog: Catalog, query: str = "", shown: str = EVERY) -> list[str]:
    """The ids of the back office's first page of books."""
    return [entry.book.id for entry in (await catalog.listing(1, query, shown)).entries]


async def test_a_retired_book_is_absent_from_every_read_for_shoppers(catalog: Catalog) -> None:
    before_count = await catalog.count()
    assert await retire(catalog, "gardener")
    assert await catalog.get("gardener") is None
    assert "gardener" not in await catalog.get_many(["gardener", "percent"])
    assert "gardener" not in await ids(catalog, "", "title")
    assert await ids(catalog, "roses") == []
    assert await catalog.count() == before_count - 1
    assert "gardener" not in await catalog.ids(0, 100)
    assert "gardener" not in [book.id async for book in catalog.every_book()]


async def test_the_back_office_reads_a_retired_book_with_when_it_was_retired(
    catalog: Catalog,
) -> None:
    await retire(catalog, "gardener")
    entry = await catalog.entry("gardener")
    assert entry is not None and entry.book == BOOKS[1] and entry.retired
    assert entry.retired_at is not None and entry.retired_at.tzinfo is not None
    assert await catalog.entry("percent") == Entry(BOOKS[4])
    assert await catalog.entry("no-such-book") is None
    assert set(await catalog.entries(["gardener", "percent", "nope"])) == {"gardener", "percent"}


async def test_a_returned_book_is_on_sale_again_and_retiring_twice_changes_nothing(
    catalog: Catalog,
) -> None:
    assert await retire(catalog, "gardener")
    assert not await retire(catalog, "gardener")
    assert not await retire(catalog, "no-such-book")
    assert await retire(catalog, "gardener", retired=False)
    assert not await retire(catalog, "gardener", retired=False)
    assert await catalog.get("gardener") == BOOKS[1]
    assert await ids(catalog, "roses") == ["gardener"]


async def test_the_back_office_lists_books_on_sale_retired_or_all_by_title(
    catalog: Catalog,
) -> None:
    await retire(catalog, "gardener")
    by_title = ["percent", "gardener", "cafe-society", "mythical-man-month", "secret-garden"]
    assert await listed(catalog) == by_title
    assert await listed(catalog, shown=ON_SALE) == [
        book_id for book_id in by_title if book_id != "gardener"
    ]
    assert await listed(catalog, shown=RETIRED) == ["gardener"]
    assert await listed(catalog, "garden") == ["secret-garden", "gardener"]
    assert await listed(catalog, "garden", RETIRED) == ["gardener"]


async def test_the_back_office_finds_a_book_by_its_id_first(catalog: Catalog) -> None:
    # "percent" is no word of its title; "gardener" is its id, and "garden" only a prefix.
    assert await listed(catalog, "percent") == ["percent"]
    assert await listed(catalog, "Gardener") == ["gardener"]
    await catalog.write([Book("garden", "Garden Walks", "Someone", "", 100)])
    assert await listed(catalog, "garden") == ["garden", "secret-garden", "gardener"]
    assert await listed(catalog, "no-such-book") == []


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
async def test_whatever_the_back_office_types_is_a_query_never_an_error(
    catalog: Catalog, query: str
) -> None:
    page = await catalog.listing(1, query)
    assert all(entry.book.id in {b.id for b in BOOKS} for entry in page.entries)


async def test_the_back_office_list_is_paged(catalog: Catalog) -> None:
    await catalog.write(generated_books(LISTING_PAGE_SIZE))
    first, second = await catalog.listing(1), await catalog.listing(2)
    assert len(first.entries) == LISTING_PAGE_SIZE and first.has_next
    assert len(second.entries) == len(BOOKS) and not second.has_next
    assert not {e.book.id for e in first.entries} & {e.book.id for e in second.entries}


async def test_a_new_book_is_added_once_and_an_id_taken_by_a_retired_book_is_refused(
    catalog: Catalog,
) -> None:
    new = Book("new-book", "A New Book", "Someone", "", 100)
    async with catalog.database.transaction() as connection:
        assert await catalog.add_in(connection, new)
        assert not await catalog.add_in(connection, replace(new, title="Another"))
    await retire(catalog, "gardener")
    async with catalog.database.transaction() as connection:
        assert not await catalog.add_in(connection, replace(BOOKS[1], title="Another"))
    catalog.forget()
    assert await catalog.get("new-book") == new
    entry = await catalog.entry("gardener")
    assert entry is not None and entry.book == BOOKS[1] and entry.retired


async def test_a_saved_book_shows_at_once_once_the_cache_is_forgotten(catalog: Catalog) -> None:
    assert await catalog.get("gardener") == BOOKS[1]  # now in the cache
    cheaper = replace(BOOKS[1], price=999, title="A Year of Tulips")
    async with catalog.database.transaction() as connection:
        before = await catalog.save_in(connection, cheaper)
        assert await catalog.save_in(connection, replace(cheaper, id="nope")) is None
    assert before == Entry(BOOKS[1])
    assert await catalog.get("gardener") == BOOKS[1]  # this process still remembers
    catalog.forget()
    assert await catalog.get("gardener") == cheaper
    assert await ids(catalog, "tulips") == ["gardener"]


async def test_a_write_in_a_transaction_that_fails_leaves_the_book_as_it_was(
    catalog: Catalog,
) -> None:
    with pytest.raises(RuntimeError):
        async with catalog.database.transaction() as connection:
            await catalog.save_in(connection, replace(BOOKS[1], price=1))
            await catalog.retire_in(connection, "gardener", True)
            raise RuntimeError("the audit entry could not be written")
    catalog.forget()
    assert await catalog.get("gardener") == BOOKS[1]


async def test_an_import_of_a_retired_book_updates_it_and_leaves_it_retired(
    catalog: Catalog,
) -> None:
    await retire(catalog, "gardener")
    written = await catalog.write([replace(BOOKS[1], price=1700), BOOKS[0]])
    assert (written.added, written.changed, written.retired) == (0, 1, 1)
    entry = await catalog.entry("gardener")
    assert entry is not None and entry.retired and entry.book.price == 1700
    assert await catalog.get("gardener") is None
