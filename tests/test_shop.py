"""The shop front: grid, search (fragment and page), covers."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.app import HTMX, Client


async def test_shop_page_lists_the_catalog_with_the_starters_books_and_prices(
    client: Client,
) -> None:
    response = await client.get("/")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.count('class="card h-100 book"') >= 12
    for title, price in [
        ("The Art of Doing Science and Engineering", "23.00\xa0SGD"),
        ("The Making of Prince of Persia: Journals 1985-1993", "25.00\xa0SGD"),
        ("Working in Public: The Making and Maintenance of Open Source", "28.00\xa0SGD"),
    ]:
        card = body[body.index(title) :]
        assert price in card[: card.index("</article>")]


async def test_plain_search_returns_the_full_page_with_matches_only(
    client: Client,
) -> None:
    response = await client.get("/?q=hamming")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    assert "The Art of Doing Science and Engineering" in body
    assert "Working in Public" not in body
    assert "HX-Request" in response.headers["Vary"]


async def test_htmx_search_returns_only_the_grid_fragment(client: Client) -> None:
    response = await client.get("/?q=EGHBAL", headers=HTMX)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and "<header" not in body
    assert "Working in Public" in body
    assert "Hamming" not in body
    assert 'hx-swap-oob="innerHTML"' in body  # the live result count travels with it
    assert "HX-Request" in response.headers["Vary"]


async def test_history_restore_gets_the_full_page(client: Client) -> None:
    response = await client.get(
        "/?q=brooks", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    body = await response.get_data(as_text=True)
    assert "<html" in body
    assert "The Mythical Man-Month" in body
    assert "HX-Request" in response.headers["Vary"]


async def test_search_matches_title_or_author_case_insensitively(
    client: Client,
) -> None:
    by_title = await (await client.get("/?q=mythical", headers=HTMX)).get_data(as_text=True)
    by_author = await (await client.get("/?q=KIDDER", headers=HTMX)).get_data(as_text=True)
    assert "The Mythical Man-Month" in by_title
    assert "The Soul of a New Machine" in by_author


async def test_empty_result_says_so_and_offers_to_clear(client: Client) -> None:
    for headers in ({}, HTMX):
        response = await client.get("/?q=zzzz-no-such-book", headers=headers)
        body = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert "No books match" in body
        assert "Clear the search" in body


async def test_overlong_search_is_a_readable_400_on_both_paths(
    client: Client,
) -> None:
    plain = await client.get("/?q=" + "a" * 101)
    fragment = await client.get("/?q=" + "a" * 101, headers=HTMX)
    assert plain.status_code == fragment.status_code == 400
    assert "<html" in await plain.get_data(as_text=True)
    fragment_body = await fragment.get_data(as_text=True)
    assert "<html" not in fragment_body
    assert "at most 100 characters" in fragment_body


async def test_search_terms_are_escaped(client: Client) -> None:
    body = await (await client.get("/?q=<script>x</script>")).get_data(as_text=True)
    assert "<script>x</script>" not in body
    assert "&lt;script&gt;" in body


async def test_cover_is_a_generated_svg(client: Client) -> None:
    response = await client.get("/covers/working-in-public.svg")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type.startswith("image/svg+xml")
    assert body.startswith("<svg") and "Working in" in body


async def test_unknown_cover_is_404(client: Client) -> None:
    assert (await client.get("/covers/nope.svg")).status_code == 404


@pytest.mark.parametrize("headers", [{}, HTMX])
async def test_a_book_has_a_page_of_its_own_on_both_paths(
    client: Client, headers: dict[str, str]
) -> None:
    # No fragment of its own: htmx gets the whole page too.
    response = await client.get("/books/working-in-public", headers=headers)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    main = body[body.index("<main") :]
    assert (
        '<h1 class="h3">Working in Public: The Making and Maintenance of Open Source</h1>' in main
    )
    assert "by Nadia Eghbal" in main
    assert "Who builds open source software, who maintains it" in main
    assert "28.00\xa0SGD" in main
    assert 'src="/covers/working-in-public.svg"' in main
    assert 'alt="Cover of Working in Public' in main
    assert 'action="/cart/add"' in main and 'name="book_id" value="working-in-public"' in main
    assert 'href="/checkout/working-in-public"' in main
    # The shop keeps no stock yet: the page claims none.
    assert "stock" not in main.lower()


async def test_a_book_page_adds_to_the_cart_like_the_grid(client: Client) -> None:
    body = await (await client.get("/books/code")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert token
    added = await client.post(
        "/cart/add", form={"book_id": "code", "csrf_token": token[1]}, headers=HTMX
    )
    assert added.status_code == 200
    assert "Added ✓" in await added.get_data(as_text=True)


async def test_an_unknown_book_page_is_a_readable_404_on_both_paths(client: Client) -> None:
    plain = await client.get("/books/no-such-book")
    fragment = await client.get("/books/no-such-book", headers=HTMX)
    assert plain.status_code == fragment.status_code == 404
    assert "<html" in await plain.get_data(as_text=True)
    assert "sell that book" in await fragment.get_data(as_text=True)


async def test_the_grid_links_each_title_and_cover_to_the_book_page(client: Client) -> None:
    for headers in ({}, HTMX):
        body = await (await client.get("/?q=machine", headers=headers)).get_data(as_text=True)
        for book in ("soul-of-a-new-machine", "dream-machine"):
            links = re.findall(rf'<a [^>]*href="/books/{book}"[^>]*>', body)
            assert len(links) == 2, links
            # The cover's link repeats the title's: out of the tab order and the reading order.
            assert sum('tabindex="-1" aria-hidden="true"' in link for link in links) == 1
        assert 'href="/checkout/soul-of-a-new-machine"' in body  # "Buy now" stays


async def test_only_the_first_cover_is_fetched_eagerly(client: Client) -> None:
    body = await (await client.get("/")).get_data(as_text=True)
    covers = re.findall(r"<img [^>]*book-cover[^>]*>", body)
    assert len(covers) == 14
    assert 'fetchpriority="high"' in covers[0] and 'loading="lazy"' not in covers[0]
    assert all('loading="lazy"' in cover for cover in covers[1:])
