"""The delivery address: checked for its country, a message beside each field on both paths, kept
in the session (never in a URL), and no input that can break a page."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from bookshop.address import Address, read_form
from bookshop.shipping import default_rates
from tests.fixtures.app import HTMX, SINGAPORE, Client, csrf_token, fuzzing_the_app
from tests.fixtures.live import alerted, focused, said

VALID = {
    "SG": {"name": "Ada Reader", "line1": "1 Straits View", "postal_code": "018937"},
    "US": {
        "name": "Ada Reader",
        "line1": "1600 Amphitheatre Pkwy",
        "city": "Mountain View",
        "state": "CA",
        "postal_code": "94043",
    },
    "GB": {
        "name": "Ada Reader",
        "line1": "1 Book Street",
        "city": "London",
        "postal_code": "N1 9GU",
    },
    "AU": {
        "name": "Ada Reader",
        "line1": "1 Harbour St",
        "city": "Sydney",
        "state": "NSW",
        "postal_code": "2000",
    },
    "MY": {
        "name": "Ada Reader",
        "line1": "1 Jalan Ampang",
        "city": "Kuala Lumpur",
        "postal_code": "50450",
    },
    "DE": {"name": "Ada Reader", "line1": "Buchweg 1", "city": "Berlin", "postal_code": "10115"},
    "FR": {
        "name": "Ada Reader",
        "line1": "1 rue des Livres",
        "city": "Paris",
        "postal_code": "75001",
    },
    "NL": {
        "name": "Ada Reader",
        "line1": "Boekstraat 1",
        "city": "Amsterdam",
        "postal_code": "1011 AB",
    },
}


def check(country: str, **changes: str) -> dict[str, str]:
    """The field messages for a valid address of `country` with `changes`."""
    return read_form(
        {**VALID[country], "country": country, **changes}, default_rates(), "en_SG"
    ).errors


@pytest.mark.parametrize("country", sorted(VALID))
def test_a_valid_address_of_each_country_passes_and_keeps_its_fields(country: str) -> None:
    form = read_form({**VALID[country], "country": country}, default_rates(), "en_SG")
    assert form.errors == {}
    assert isinstance(form.address, Address) and form.address.country == country


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [
        ("SG", "18937"),
        ("US", "9404"),
        ("GB", "N1"),
        ("AU", "20000"),
        ("MY", "5045"),
        ("DE", "1011"),
        ("FR", "7500"),
        ("NL", "10111 AB"),
    ],
)
def test_a_postal_code_in_the_wrong_format_gets_a_message_with_an_example(
    country: str, postal_code: str
) -> None:
    errors = check(country, postal_code=postal_code)
    assert set(errors) == {"postal_code"}
    assert "postal code" in errors["postal_code"]


def test_a_postal_code_is_written_as_the_country_writes_it() -> None:
    form = read_form(
        {**VALID["GB"], "country": "GB", "postal_code": "n1 9gu"}, default_rates(), "en_SG"
    )
    assert form.address is not None and form.address.postal_code == "N1 9GU"


def test_what_a_country_requires_is_asked_for() -> None:
    assert set(check("US", state="")) == {"state"}
    assert set(check("GB", city="")) == {"city"}
    assert check("SG", city="") == {}  # a city-state: no town line needed
    assert set(check("SG", name="", line1="")) == {"name", "line1"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Ada\u202eredaeR", "invisible"),  # a right-to-left override
        ("Ada\u200fReader", "invisible"),  # a right-to-left mark
        ("Ada\x00Reader", "invisible"),
        ("Ada\nReader", "invisible"),  # a tab is a space (below), a line break is not
        ("Ada\u2028Reader", "invisible"),  # a line separator
        ("Ada 📚 Reader", "letters, numbers"),
        ("<script>alert(1)</script>", "letters, numbers"),
        ("A" * 101, "100 characters"),
    ],
)
def test_what_no_address_needs_gets_a_message(value: str, message: str) -> None:
    errors = check("SG", name=value)
    assert set(errors) == {"name"} and message in errors["name"]


def test_names_in_any_script_are_welcome() -> None:
    for name in ("Zoë Brontë", "李小龍", "Ἀριστοτέλης", "محمد علي", "O'Brien-Smith"):
        assert check("SG", name=name) == {}, name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "\u3164"),  # a Hangul filler: a letter that prints as nothing
        ("name", "\u3164 \uffa0 \u115f\u1160"),
        ("name", "\u0301\u0301"),  # accents with no letter to sit on
        ("name", "\u034f\u20dd"),  # a grapheme joiner and an enclosing circle
        ("line1", "\u17b4\u17b5"),  # Khmer's inherent vowels
        ("line2", "\u3164"),
        ("city", "\u0301"),
        ("state", "\u3164\u3000\u0301"),
    ],
)
def test_a_name_or_line_with_nothing_visible_in_it_is_refused(field: str, value: str) -> None:
    errors = check("US", **{field: value})
    assert set(errors) == {field}
    assert "letters or numbers we can read" in errors[field]


def test_a_name_of_only_a_hangul_filler_or_only_accents_gets_a_message_that_says_so() -> None:
    message = "Enter your full name with letters or numbers we can read."
    assert check("SG", name="\u3164") == {"name": message}
    assert check("SG", name="\u0301\u0301") == {"name": message}
    # A line the shopper need not fill in says it can be left empty.
    assert check("SG", line2="\u3164") == {
        "line2": "Enter your second address line with letters or numbers we can read, "
        "or leave it empty."
    }


def test_a_line_of_only_zero_width_spaces_is_refused() -> None:
    errors = check("SG", line1="\u200b\u200b\u200b")
    assert set(errors) == {"line1"} and "invisible" in errors["line1"]


def test_a_letter_with_blank_looking_characters_around_it_is_kept() -> None:
    assert check("SG", name="A\u0301 \u3164") == {}
    assert check("SG", line2="-") == {}  # punctuation shows


def stored(**changes: str) -> Address:
    form = read_form({**VALID["SG"], "country": "SG", **changes}, default_rates(), "en_SG")
    assert form.errors == {} and form.address is not None, form.errors
    return form.address


def test_each_run_of_spaces_and_tabs_is_stored_as_one_plain_space_with_none_around() -> None:
    assert stored(name="Ada   \t Reader").name == "Ada Reader"
    assert stored(name="\t Ada Reader  ").name == "Ada Reader"
    assert stored(line1="1\u00a0\u00a0Straits\u00a0View\u00a0").line1 == "1 Straits View"
    assert stored(line1="1\u3000Straits\u2009\u202f View").line1 == "1 Straits View"


def test_every_unicode_space_counts_as_a_space() -> None:
    spaces = [chr(point) for point in range(0x110000) if unicodedata.category(chr(point)) == "Zs"]
    assert stored(name="Ada" + "".join(spaces) + "Reader").name == "Ada Reader"


def test_a_decomposed_accent_is_kept_and_stored_composed() -> None:
    name = stored(name="Jose\u0301 Reader").name
    assert name == "Jos\u00e9 Reader" == unicodedata.normalize("NFC", name)


def test_the_symbols_addresses_use_are_welcome() -> None:
    assert check("FR", line2="2° étage, N° 12") == {}
    assert check("DE", line2="№ 5") == {}


@pytest.mark.parametrize(
    ("country", "message"),
    [("KP", "We don't deliver to North Korea yet."), ("XX", "Choose a country from the list.")],
)
def test_a_country_not_shipped_to_or_not_a_country_is_refused(country: str, message: str) -> None:
    errors = read_form({**VALID["SG"], "country": country}, default_rates(), "en_SG").errors
    assert errors == {"country": message}


async def post_address(
    client: Client, htmx: bool = False, **form: str
) -> tuple[int, str, dict[str, str]]:
    """POST the address step; (status, body, headers)."""
    token = await csrf_token(client)
    response = await client.post(
        "/checkout/address",
        form={"csrf_token": token, "next": "/checkout", **form},
        headers=HTMX if htmx else {},
    )
    return response.status_code, await response.get_data(as_text=True), response.headers


async def test_the_address_step_shows_the_countries_by_name_and_the_saved_address(
    client: Client,
) -> None:
    page = await client.get("/checkout/address?next=/checkout")
    body = await page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"  # it shows where the shopper lives
    assert '<option value="SG" selected>Singapore</option>' in body
    assert '<option value="DE">Germany</option>' in body
    assert 'value="1 Straits View"' in body
    assert "North Korea" not in body


async def test_a_plain_form_with_mistakes_comes_back_with_its_input_and_a_message_per_field(
    new_client: Client,
) -> None:
    status, body, headers = await post_address(
        new_client, country="GB", name="Ada Reader", line1="1 Book Street", postal_code="nope"
    )
    assert status == 422 and headers["Cache-Control"] == "no-store"
    assert "<html" in body
    assert 'value="Ada Reader"' in body and 'value="1 Book Street"' in body
    assert re.search(r'id="address-postal_code"[^>]*aria-invalid="true"', body)
    assert 'id="address-postal_code-error"' in body and 'id="address-city-error"' in body
    assert "Please check the fields marked below." in body


async def test_htmx_gets_just_the_form_with_its_messages(new_client: Client) -> None:
    status, body, headers = await post_address(new_client, htmx=True, country="SG")
    assert status == 422 and "<html" not in body
    assert 'id="address-name-error"' in body
    assert "HX-Request" in headers["Vary"]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_a_good_address_goes_on_to_the_checkout_and_stays_out_of_urls(
    new_client: Client, htmx: bool
) -> None:
    status, _, headers = await post_address(new_client, htmx=htmx, **{**SINGAPORE})
    if htmx:
        assert (status, headers["HX-Redirect"]) == (204, "/checkout")
    else:
        assert (status, headers["Location"]) == (303, "/checkout")
    async with new_client.session_transaction() as session:
        assert session["address"]["postal_code"] == "018937"
    page = await new_client.get("/cart")
    assert "018937" not in str(page.headers) and "Straits" not in str(page.headers)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("country", ["all", "ALL", "zz", "S"])
async def test_a_code_that_names_no_country_is_a_message_on_both_paths(
    new_client: Client, country: str, htmx: bool
) -> None:
    # Google's address data has an "all" entry, which once made the redrawn form a 500.
    for form in ({**SINGAPORE, "country": country}, {"refresh": "1", "country": country}):
        status, body, _ = await post_address(new_client, htmx=htmx, **form)
        assert status in (200, 422) and "address-form" in body, (form, status)


async def test_choosing_a_country_redraws_the_form_for_it_without_messages(
    new_client: Client,
) -> None:
    _, us, _ = await post_address(new_client, htmx=True, refresh="1", country="US", name="Ada")
    _, sg, _ = await post_address(new_client, htmx=True, refresh="1", country="SG", name="Ada")
    assert 'id="address-state"' in us and 'id="address-state"' not in sg
    assert "error" not in us and 'value="Ada"' in us


@pytest.mark.parametrize(
    ("next_url", "lands"),
    [
        ("/checkout", "/checkout"),
        ("/checkout/code?quantity=3", "/checkout/code?quantity=3"),
        ("https://evil.example/checkout", "/checkout"),
        ("//evil.example/checkout", "/checkout"),
        ("/checkout/no-such-book", "/checkout"),
        ("/cart/add", "/checkout"),
    ],
)
async def test_the_address_step_leads_only_to_a_checkout_of_this_shop(
    new_client: Client, next_url: str, lands: str
) -> None:
    status, _, headers = await post_address(new_client, **{**SINGAPORE, "next": next_url})
    assert (status, headers["Location"]) == (303, lands)


async def test_a_checkout_without_an_address_asks_for_one_first(new_client: Client) -> None:
    await new_client.post(
        "/cart/add", form={"book_id": "code", "csrf_token": await csrf_token(new_client)}
    )
    for url, back in (
        ("/checkout", "/checkout"),
        ("/checkout/code?quantity=2", "/checkout/code?quantity%3D2"),
    ):
        response = await new_client.get(url)
        assert response.status_code == 303
        assert response.headers["Location"] == f"/checkout/address?next={back}"


FIELDS = ("name", "line1", "line2", "city", "state", "postal_code", "phone", "country")
NASTY = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "\u202eevil\u202c",
            "\u200f\u200e",
            "📚📚📚",
            "x" * 5000,
            "Robert'); DROP TABLE orders;--",
            "\x00\x1b[31m",
            "SG\n",
            "all",
            "ALL",
        ]
    ),
)


@fuzzing_the_app(examples=80)
@given(field=st.sampled_from(FIELDS), value=NASTY, htmx=st.booleans())
async def test_fuzzed_address_fields_get_a_message_or_a_safe_address_never_a_500(
    client: Client, field: str, value: str, htmx: bool
) -> None:
    status, body, _ = await post_address(client, htmx=htmx, **{**SINGAPORE, field: value})
    assert status in (204, 303, 422), (field, value, status)
    assert "Traceback" not in body
    # A refused value is shown again for the shopper to mend, escaped like everything else.
    assert "<script>alert" not in body and "<img src=x" not in body
    if status != 422:
        page = await (await client.get("/checkout/code")).get_data(as_text=True)
        address = page.split('class="delivery-address', 1)[1].split("</address>", 1)[0]
        assert "<script" not in address and "<img" not in address and "\u202e" not in address
        saved = read_form({**SINGAPORE, field: value}, default_rates(), "en_SG").address
        assert saved is not None
        for line in saved.lines()[:-1]:
            assert str(escape(line)) in address


async def test_the_form_marks_optional_only_what_the_chosen_country_does_not_need(
    new_client: Client,
) -> None:
    _, singapore, _ = await post_address(new_client, htmx=True, refresh="1", country="SG")
    _, america, _ = await post_address(new_client, htmx=True, refresh="1", country="US")

    def optional(body: str) -> set[str]:
        return set(
            re.findall(
                r'for="address-(\w+)">[^<]*<span class="text-body-secondary">\(optional', body
            )
        )

    assert optional(singapore) == {"line2", "city", "phone"}
    assert optional(america) == {"line2", "phone"}
    assert re.search(r'id="address-postal_code"[^>]*required', singapore)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
async def test_a_form_with_mistakes_lists_them_as_links_and_focuses_the_first_field_to_fix(
    new_client: Client, htmx: bool
) -> None:
    _, body, _ = await post_address(
        new_client, htmx=htmx, country="GB", name="Ada Reader", postal_code="nope"
    )
    summary = body[body.index('class="alert alert-danger error-summary"') :]
    links = re.findall(r'<li><a href="#address-(\w+)">([^<]*)</a></li>', summary)
    # In the form's order, each named by its label, each leading to its field.
    assert [name for name, _ in links] == ["line1", "city", "postal_code"]
    assert links[0][1] == "Address: Enter your address."
    # The first field to fix takes the focus (htmx honours autofocus in what it swaps in).
    (tag,) = focused(body)
    assert tag.startswith("<input") and 'id="address-line1"' in tag
    if htmx:
        assert alerted(body) == (
            "Please check the fields marked below. Address: Enter your address."
        )
    else:
        assert alerted(body) is None


async def test_a_country_error_focuses_the_country_select(new_client: Client) -> None:
    _, body, _ = await post_address(new_client, htmx=True, **{**SINGAPORE, "country": ""})
    (tag,) = focused(body)
    assert tag.startswith('<select class="form-select') and 'id="address-country"' in tag


async def test_a_state_field_that_comes_or_goes_with_the_country_is_said(
    new_client: Client,
) -> None:
    # A redrawn form that had no state field gets one for the US, and says so; one that had
    # one loses it for Singapore; no field changing says nothing.
    _, us, _ = await post_address(new_client, htmx=True, refresh="1", country="US")
    assert said(us) == "A “State or region” field was added."
    _, sg, _ = await post_address(new_client, htmx=True, refresh="1", country="SG", state="")
    assert said(sg) == "The “State or region” field was removed."
    _, gb, _ = await post_address(new_client, htmx=True, refresh="1", country="GB")
    assert said(gb) is None
    assert focused(us) == focused(sg) == focused(gb) == []


async def test_the_country_select_redraws_the_form_once_the_choice_settles(
    client: Client,
) -> None:
    body = await (await client.get("/checkout/address")).get_data(as_text=True)
    select = re.search(r'<select[^>]*id="address-country"[^>]*>', body)
    assert select
    # Type-ahead ("Sing") and arrow keys pass through options without a request each, and the
    # morph keeps the select and the field being typed in as they are.
    assert 'hx-trigger="change delay:1s"' in select[0] and 'hx-swap="innerMorph"' in select[0]
    # Without JavaScript, a button asks for the country's fields.
    assert re.search(r'<noscript><button[^>]*name="refresh" value="1"', body)
    status, page, _ = await post_address(client, refresh="1", country="US")
    assert status == 200 and "<html" in page and 'id="address-state"' in page
