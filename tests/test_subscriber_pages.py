"""The subscribers page and one subscriber's page as an organiser sees them: the country a
filter matches, a refused filter value kept where it was typed, search inside names and
groups, and the edit form's list checkboxes."""

from __future__ import annotations

from collections.abc import Iterator

import lxml.html
import pytest
from playwright.sync_api import Browser, Page, expect

from app.accounts import users
from app.audience import records
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.factories import make_group, make_list, make_subscriber
from tests.support.live_server import LiveServer
from tests.support.panel import logged_in_client


@pytest.fixture()
def owner_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """An owner's browser at desktop width (the shared fixture is a phone's)."""
    users.create_user(EMAIL, PASSWORD, "owner")
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    log_in(page)
    yield page
    context.close()


def _page(client, path: str) -> lxml.html.HtmlElement:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 200
    return lxml.html.fromstring(response.get_data(as_text=True))


def _rows(page: lxml.html.HtmlElement) -> dict[str, lxml.html.HtmlElement]:
    """The subscribers table's rows by address."""
    rows = {}
    for row in page.cssselect("#bulk tbody tr"):
        link = row.cssselect("td a")
        if link:
            rows[link[0].text_content()] = row
    return rows


def _country_cell(row: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    return row.cssselect("td")[4]  # checkbox, address, name, language, country


def _cell_text(cell: lxml.html.HtmlElement) -> str:
    return " ".join(cell.text_content().split())


def test_the_country_column_shows_the_country_the_filter_matches_and_where_it_comes_from(app):
    client = logged_in_client(app)
    partners = make_list()
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    unknown = make_group("Somewhere collective")
    for n in range(3):  # no country of their own: their group's is theirs
        make_subscriber(f"member{n}@example.org", group=kyiv, lists=[partners])
    make_subscriber("own@example.org", country="UA", lists=[partners])
    make_subscriber("moved@example.org", country="PL", group=kyiv, lists=[partners])
    make_subscriber("nowhere@example.org", group=unknown, lists=[partners])

    filtered = _page(client, "/subscribers?country=UA")
    assert filtered.get_element_by_id("total").text_content().startswith("4 matching")
    rows = _rows(filtered)
    assert sorted(rows) == [
        "member0@example.org",
        "member1@example.org",
        "member2@example.org",
        "own@example.org",
    ]
    for n in range(3):
        cell = _country_cell(rows[f"member{n}@example.org"])
        assert _cell_text(cell) == "UA (group)"
        assert (
            cell.cssselect(".source")[0].get("title") == "from the group Kyiv Solidarity Collective"
        )
    assert _cell_text(_country_cell(rows["own@example.org"])) == "UA"

    everyone = _rows(_page(client, "/subscribers"))
    assert _cell_text(_country_cell(everyone["moved@example.org"])) == "PL"  # their own wins
    assert _cell_text(_country_cell(everyone["nowhere@example.org"])) == ""
    # Every country shown is one the filter finds them by.
    for address, row in everyone.items():
        shown = _cell_text(_country_cell(row)).split(" ")[0]
        if shown:
            assert address in _rows(_page(client, f"/subscribers?country={shown}"))


@pytest.mark.parametrize(
    ("field", "typed", "problem"),
    [
        ("country", "Ukraine", "is not a two-letter country code"),
        ("language", "english!", "is not a language tag"),
    ],
)
def test_a_refused_filter_value_stays_in_its_field_with_the_reason_beside_it(
    app, field, typed, problem
):
    client = logged_in_client(app)
    partners = make_list()
    make_subscriber("uk@example.org", language="uk", country="UA", lists=[partners])
    make_subscriber("en@example.org", language="en", country="GB", lists=[partners])
    other = "language" if field == "country" else "country"
    other_value = "uk" if field == "country" else "UA"
    page = _page(client, f"/subscribers?{field}={typed}&{other}={other_value}")
    filters = page.get_element_by_id("filters")
    box = filters.cssselect(f"input[name={field}]")[0]
    assert box.get("value") == typed
    assert box.get("aria-invalid") == "true"
    error = page.get_element_by_id(f"filter-error-{field}")
    assert problem in error.text_content()
    assert error.getparent() is box.getparent()  # in the field's own label
    assert box.get("aria-describedby") == f"filter-error-{field}"
    # The other filter was applied and kept as it was.
    assert filters.cssselect(f"input[name={other}]")[0].get("value") == other_value
    assert sorted(_rows(page)) == ["uk@example.org"]
    assert any(problem in p.text_content() for p in page.cssselect(".flash.error"))


def test_every_refused_choice_is_named_at_its_field(app):
    client = logged_in_client(app)
    page = _page(client, "/subscribers?list=999999&status=sleeping")
    for field, problem in [
        ("list", "there is no list with id 999999"),
        ("status", "'sleeping' is not one of active"),
    ]:
        error = page.get_element_by_id(f"filter-error-{field}")
        assert problem in error.text_content()
        assert error.getparent().cssselect("select")[0].get("name") == field


def test_searching_names_and_groups_from_the_page(app):
    client = logged_in_client(app)
    partners = make_list()
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    make_subscriber("olena@example.org", name="Olena Kyivska", lists=[partners])
    make_subscriber("petro@example.org", name="Petro", group=kyiv, lists=[partners])
    make_subscriber("kyivan@example.org", name="Ivan", lists=[partners])
    page = _page(client, "/subscribers?by=name&q=kyiv")
    assert sorted(_rows(page)) == ["olena@example.org", "petro@example.org"]
    assert page.cssselect("select[name=by] option[selected]")[0].text_content() == (
        "Name or group contains"
    )
    assert sorted(_rows(_page(client, "/subscribers?q=kyiv"))) == ["kyivan@example.org"]
    # The export reads the same filter.
    csv_text = client.get("/exports/subscribers.csv?by=name&q=kyiv").get_data(as_text=True)
    assert sorted(line.split(",")[0] for line in csv_text.splitlines()[1:]) == [
        "olena@example.org",
        "petro@example.org",
    ]


@pytest.mark.slow
def test_the_edit_page_shows_each_list_as_a_box_beside_its_label_without_bullets(
    owner_page: Page,
) -> None:
    page = owner_page
    partners = make_list(name="Partner collectives")
    press = make_list(name="Press contacts")
    make_list(name="Supporters")
    olena = make_subscriber("olena@example.org", lists=[partners])
    page.goto(f"/subscribers/{olena.id}")
    lists = page.locator("#edit fieldset").filter(has_text="Lists")
    for name in ("Partner collectives", "Press contacts", "Supporters"):
        box = lists.get_by_role("checkbox", name=name)
        label = lists.locator("label", has_text=name)
        box_at, label_at = box.bounding_box(), label.bounding_box()
        assert box_at and label_at
        # One line: their vertical extents overlap, and the label starts right of the box.
        assert box_at["y"] < label_at["y"] + label_at["height"]
        assert label_at["y"] < box_at["y"] + box_at["height"]
        assert label_at["x"] >= box_at["x"] + box_at["width"]
        item = box.locator("xpath=ancestor::li[1]")
        assert item.evaluate("e => getComputedStyle(e).listStyleType") == "none"
    assert lists.get_by_role("checkbox", name="Partner collectives").is_checked()
    # Saving keeps the boxes' meaning: the one checked is the one subscribed.
    lists.get_by_role("checkbox", name="Press contacts").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash").first).to_have_text("Saved.")
    assert sorted(records.current_list_ids(olena.id)) == sorted([partners.id, press.id])


def test_a_subscribers_own_page_says_when_their_country_is_their_groups(app):
    client = logged_in_client(app)
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    member = make_subscriber("member@example.org", group=kyiv, lists=[make_list()])
    page = _page(client, f"/subscribers/{member.id}")
    assert page.cssselect("#edit input[name=country]")[0].get("value") in (None, "")
    assert "their group's, UA, applies" in page.get_element_by_id("group-country").text_content()


@pytest.mark.slow
def test_a_group_country_reads_as_one_line_in_the_browser(owner_page: Page) -> None:
    page = owner_page
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    make_subscriber("member@example.org", group=kyiv, lists=[make_list()])
    page.goto("/subscribers?country=UA")
    row = page.locator("#bulk tbody tr", has_text="member@example.org")
    cell = row.locator("td").nth(4)
    assert " ".join(cell.inner_text().split()) == "UA (group)"
    code_top, marker_top = cell.evaluate(
        """c => { const r = document.createRange(); r.selectNodeContents(c.firstChild);
                  return [r.getBoundingClientRect().top,
                          c.querySelector('.source').getBoundingClientRect().top]; }"""
    )
    assert abs(code_top - marker_top) < 8  # the marker sits beside the code, not under it
    assert cell.locator(".source").get_attribute("title") == (
        "from the group Kyiv Solidarity Collective"
    )
