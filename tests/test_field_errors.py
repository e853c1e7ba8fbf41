"""A value the services refuse is shown beside the field it was typed into, and at the top
of the page, with what was typed still in the form; nothing is stored."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, Group, MailingList
from tests.support.factories import make_campaign, make_group, make_list
from tests.support.panel import csrf_token, logged_in_client


class _Page(HTMLParser):
    """The page's flashed messages, and the errors shown in each field's label."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.flashed: list[str] = []
        self.at_field: dict[str, list[str]] = {}
        self.values: dict[str, str] = {}
        self._label_fields: list[str] | None = None
        self._label_errors: list[str] = []
        self._reading: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "label":
            self._label_fields, self._label_errors = [], []
        elif tag in ("input", "select", "textarea") and self._label_fields is not None:
            self._label_fields.append(found.get("name") or "")
            if tag == "input":
                self.values[found.get("name") or ""] = found.get("value") or ""
        elif tag == "span" and "error" in classes and self._label_fields is not None:
            self._reading = self._label_errors
            self._label_errors.append("")
        elif tag == "p" and "flash" in classes and "error" in classes:
            self._reading = self.flashed
            self.flashed.append("")

    def handle_data(self, data: str) -> None:
        if self._reading is not None:
            self._reading[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "p"):
            self._reading = None
        elif tag == "label" and self._label_fields is not None:
            for name in self._label_fields:
                self.at_field.setdefault(name, []).extend(self._label_errors)
            self._label_fields = None


def page(response) -> _Page:  # noqa: ANN001
    assert response.status_code == 200, response.status_code
    return _Page(response.get_data(as_text=True))


class _Client:
    """A logged-in organiser whose POSTs carry the session's CSRF token, as forms do."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.http = logged_in_client(app)
        self.token = csrf_token(self.http, "/campaigns")

    def post(self, path: str, data: dict[str, object]):  # noqa: ANN201
        return self.http.post(path, data={**data, "csrf_token": self.token})


@pytest.fixture
def client(app) -> _Client:  # noqa: ANN001
    return _Client(app)


def test_campaign_settings_show_a_refused_sender_and_country_at_their_fields(client):
    partners = make_list()
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    settings = {
        "name": "Renamed",
        "lists": [str(partners.id)],
        "default_language": "en",
        "template": "0",
    }
    shown = page(
        client.post(
            f"/campaigns/{campaign.id}/settings",
            data={**settings, "from_address": "Ann <ann@@example.org>"},
        )
    )
    [message] = shown.at_field["from_address"]
    assert message == "From: 'Ann <ann@@example.org>' is not a sender such as 'Name <a@b.org>'"
    assert shown.flashed == [message]
    assert shown.values["from_address"] == "Ann <ann@@example.org>"
    assert shown.at_field["name"] == [] and shown.values["name"] == "Renamed"

    shown = page(
        client.post(
            f"/campaigns/{campaign.id}/settings", data={**settings, "filter_countries": "Ukraine"}
        )
    )
    expected = "UKRAINE: countries are two-letter codes such as UA or AR"
    assert shown.at_field["filter_countries"] == [expected]
    assert shown.flashed == [expected]
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).name != "Renamed"


def test_group_page_shows_a_taken_name_and_a_bad_website_at_their_fields(client):
    make_group("Kyiv aid")
    lviv = make_group("Lviv aid")
    shown = page(client.post(f"/groups/{lviv.id}", data={"name": "kyiv AID"}))
    expected = "a group named 'kyiv AID' exists already"
    assert shown.at_field["name"] == [expected] and shown.flashed == [expected]
    shown = page(client.post("/groups", data={"name": "Odesa aid", "website": "aid.example"}))
    expected = "'aid.example' is not a web address such as https://example.org"
    assert shown.at_field["website"] == [expected] and shown.flashed == [expected]
    assert shown.at_field["name"] == [] and shown.values["name"] == "Odesa aid"
    names = set(db.session.scalars(select(Group.name)))
    assert names == {"Kyiv aid", "Lviv aid"}


def test_list_form_shows_a_bad_slug_at_its_field(client):
    fields = {"name": "Partners", "visibility": "private", "optin": "double"}
    shown = page(
        client.post("/lists", data={**fields, "slug": "Our Partners", "default_language": "en"})
    )
    expected = "'Our Partners' is not a slug: use lowercase letters, digits and dashes"
    assert shown.at_field["slug"] == [expected] and shown.flashed == [expected]
    assert shown.at_field["name"] == []
    assert db.session.scalar(select(MailingList)) is None


def test_a_refusal_about_no_field_of_the_form_is_shown_at_the_top_only(client):
    partners = make_list()
    lists = page(
        client.post(
            f"/lists/{partners.id}",
            data={
                "name": "Partners",
                "visibility": "private",
                "optin": "double",
                "default_language": "en",
                "wordings-0-name": "Партнери",
            },
        )
    )
    expected = "give the language of the name 'Партнери'"
    assert lists.flashed == [expected]
    assert all(errors == [] for errors in lists.at_field.values())
