"""The shop front: grid, search (fragment and page), covers."""

from __future__ import annotations

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
