"""The public archive: opt-in, one page per language without personal data, an index per
language and an Atom feed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.campaigns import lifecycle
from tests.support.factories import make_campaign, make_list, make_subscriber

ATOM = "{http://www.w3.org/2005/Atom}"
VARIANTS = {
    "en": ("Week of action", "Dear {{ name | default('friends') }}. [report]({{ report_url }})"),
    "uk": ("Тиждень дій", "Вітаємо, {{ name | default('друзі') }}! {{ email }}"),
}


def started(archive: bool = True, **options):
    partners = make_list()
    make_subscriber("olena@example.org", language="uk", name="Олена", lists=[partners])
    campaign = make_campaign(VARIANTS, lists=[partners], archive=archive, **options)
    lifecycle.start_sending(campaign.id)
    return campaign


def test_a_page_per_language_with_nobodys_data_in_a_sandbox(app):
    campaign = started()
    client = app.test_client()
    page = client.get(f"/archive/{campaign.uid}/uk")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Вітаємо, друзі!" in html and 'lang="uk"' in html
    assert "Олена" not in html and "olena@example.org" not in html
    assert "/u/" not in html and "/p/" not in html
    assert "sandbox" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
    english = client.get(f"/archive/{campaign.uid}/en").get_data(as_text=True)
    assert "Dear friends" in english and "/r/" not in english


def test_readers_of_other_languages_see_the_fallback(app):
    campaign = started(fallbacks=["uk"])
    client = app.test_client()
    assert "Тиждень дій" in client.get(f"/archive/{campaign.uid}/ru").get_data(as_text=True)
    assert "Тиждень дій" in client.get("/archive/ru/").get_data(as_text=True)
    assert "Week of action" in client.get("/archive/en/").get_data(as_text=True)


def test_only_archived_campaigns_that_started_are_public(app):
    hidden = started(archive=False)
    draft = make_campaign(VARIANTS, archive=True)
    client = app.test_client()
    assert client.get(f"/archive/{hidden.uid}/en").status_code == 404
    assert client.get(f"/archive/{draft.uid}/en").status_code == 404
    assert client.get("/archive/nope/en").status_code == 404
    assert client.get("/archive/not a tag!/").status_code == 404
    index = client.get("/archive/en/").get_data(as_text=True)
    assert "Week of action" not in index and "Nothing has been published yet." in index


def test_the_atom_feed_lists_the_archive_in_one_language(app):
    campaign = started()
    started(archive=False)
    response = app.test_client().get("/archive/uk/feed.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "uk"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Тиждень дій"]
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.endswith(f"/archive/{campaign.uid}/uk")
    assert feed.findtext(f"{ATOM}updated")
