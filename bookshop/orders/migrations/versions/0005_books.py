"""The catalog in the database: a books table and its full-text index (FTS5 or a GIN index)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# SQLite: an FTS5 index over the table's own text (external content), kept in step by triggers.
SQLITE_SEARCH = [
    """CREATE VIRTUAL TABLE books_search USING fts5(
        title, author, isbn, content='books', content_rowid='number',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
        INSERT INTO books_search(rowid, title, author, isbn)
        VALUES (new.number, new.title, new.author, new.isbn);
    END""",
    """CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
        INSERT INTO books_search(books_search, rowid, title, author, isbn)
        VALUES ('delete', old.number, old.title, old.author, old.isbn);
    END""",
    """CREATE TRIGGER books_search_update AFTER UPDATE OF title, author, isbn ON books BEGIN
        INSERT INTO books_search(books_search, rowid, title, author, isbn)
        VALUES ('delete', old.number, old.title, old.author, old.isbn);
        INSERT INTO books_search(rowid, title, author, isbn)
        VALUES (new.number, new.title, new.author, new.isbn);
    END""",
]
# PostgreSQL: a generated tsvector (title weighs A, author B, ISBN C) under a GIN index. The
# 'simple' configuration: no stemming or stop words, so every word a shopper types can match.
POSTGRESQL_SEARCH = [
    """ALTER TABLE books ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', author), 'B')
        || setweight(to_tsvector('simple', coalesce(isbn, '')), 'C')) STORED""",
    "CREATE INDEX books_search ON books USING gin (search)",
]


def upgrade() -> None:
    op.create_table(
        "books",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(60), nullable=False, unique=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("blurb", sa.String(2000), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("isbn", sa.String(13)),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("books_by_title", "books", ["title", "id"])
    op.create_index("books_by_price", "books", ["price", "id"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_SEARCH if dialect == "sqlite" else POSTGRESQL_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE books_search")  # its triggers go with the books table
    op.drop_table("books")
