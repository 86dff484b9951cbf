"""The catalog: the books the shop sells, kept in the database, paged, searched and imported."""

from bookshop.catalog.books import Book, InvalidBook, make_book
from bookshop.catalog.store import PAGE_SIZE, SORTS, Catalog, Page, catalog

__all__ = ["PAGE_SIZE", "SORTS", "Book", "Catalog", "InvalidBook", "Page", "catalog", "make_book"]
