"""Full-text search of the catalog: SQLite's FTS5 or PostgreSQL's text search, behind one call.

Whatever a shopper types becomes plain words: letters and digits only, each matched as a prefix
(as they type), all of them required. Nothing they type reaches either engine's query syntax.
"""

from __future__ import annotations

import re

from sqlalchemy import Float, Integer, Subquery, column, func, literal, select, text, union_all

from bookshop.catalog.schema import books

# Words: runs of letters and digits in any script. Everything else separates them.
WORD = re.compile(r"[^\W_]+")
# Digits split by hyphens or spaces are one number: an ISBN as printed, "978-0-13-110362-7".
DIGIT_GROUPS = re.compile(r"(?<=\d)[\s-]+(?=\d)")
# More words than this narrow nothing further; they would only make the query dearer.
MAX_WORDS = 8
# Matches ranked for one search: a common word matches a tenth of a large catalog, and ranking
# every match costs tens of milliseconds; a shopper reads the best of the first thousand.
MAX_RANKED = 1000
# The score of a book found by its id: above any match of its words, in either engine.
BY_ID = -1e300


def words(query: str) -> list[str]:
    """The words of a shopper's query, lowercased, at most MAX_WORDS, duplicates dropped."""
    found = WORD.findall(DIGIT_GROUPS.sub("", query).casefold())
    return list(dict.fromkeys(found))[:MAX_WORDS]


def matches(dialect: str, query_words: list[str]) -> Subquery:
    """The books matching every word (the first MAX_RANKED of them), as rows of (number,
    score): a lower score ranks higher, and a match in the title ranks above one in the author
    or ISBN."""
    if dialect == "sqlite":
        # Each word quoted as an FTS5 string with a prefix star: no operator can be spelled.
        expression = " ".join(f'"{word}"*' for word in query_words)
        statement = text(
            "SELECT rowid AS number, bm25(books_search, 10.0, 3.0, 1.0) AS score "
            "FROM books_search WHERE books_search MATCH :expression LIMIT :ranked"
        ).bindparams(expression=expression, ranked=MAX_RANKED)
    else:
        # to_tsquery's syntax, built only from words of letters and digits.
        expression = " & ".join(f"{word}:*" for word in query_words)
        statement = text(
            "SELECT number, -ts_rank(search, query) AS score FROM ("
            "SELECT number, search, query FROM books, to_tsquery('simple', :expression) AS query "
            "WHERE search @@ query LIMIT :ranked) AS matched"
        ).bindparams(expression=expression, ranked=MAX_RANKED)
    return statement.columns(column("number", Integer), column("score", Float)).subquery("found")


def matches_or_id(dialect: str, query_words: list[str], book_id: str) -> Subquery:
    """`matches`, and the book whose id is `book_id` (if any) ranked above them all: the back
    office finds a book by its id as well as by its words."""
    found = matches(dialect, query_words)
    by_id = select(books.c.number, literal(BY_ID, Float).label("score")).where(
        books.c.id == book_id
    )
    both = union_all(select(found.c.number, found.c.score), by_id).subquery("both")
    best = func.min(both.c.score).label("score")
    return select(both.c.number, best).group_by(both.c.number).subquery("found")
