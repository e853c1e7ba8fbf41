"""The panel's composing pages through HTTP: settings, the language table and the explicit
choice, schedules in the organiser's zone, test sends, previews, campaign files, layouts."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from app.accounts import users
from app.campaigns import drafts
from app.extensions import db
from app.models import Campaign, CampaignStatus, OutboxMessage, Template, User
from tests.support.factories import make_campaign, make_group, make_list, make_subscriber
from tests.support.panel import flashed, text

PLAIN_LAYOUT = (
    '<html><body>{{ content }}<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
)


def test_the_campaign_page_shows_who_gets_what_and_asks_about_variants_not_ready(client):
    partners = make_list()
    for n, language in enumerate(["uk", "uk", "pl", "en"]):
        make_subscriber(f"p{n}@example.org", language=language, lists=[partners])
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    drafts.save_variant(campaign.id, "uk", subject="Привіт", body="Текст", ready=False)
    page = text(client.get(f"/campaigns/{campaign.id}"))
    plan = page[page.index('id="plan"') : page.index("</table>", page.index('id="plan"'))]
    assert re.search(
        r'data-language="uk">.*?<td>2</td>.*?en.*?the uk variant is not ready', plan, re.S
    )
    assert re.search(r'data-language="pl">.*?<td>1</td>.*?en <small>fallback</small>', plan, re.S)
    assert "3 recipients wait for a variant that is not ready" not in page  # 2 do
    assert "2 recipients wait for a variant that is not ready" in page

    refused = client.post(f"/campaigns/{campaign.id}/send", follow_redirects=True)
    assert any("choose to hold them" in m for m in flashed(refused))
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    summary = client.post(f"/campaigns/{campaign.id}/send", data={"not_ready": "hold"})
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    sent = client.confirm(summary)
    assert "Sending to 4 recipients." in flashed(sent)


def test_settings_change_filters_layout_and_archive(client):
    partners = make_list()
    kyiv = make_group("Kyiv mutual aid", "UA")
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    layout = Template(name="Plain", html=PLAIN_LAYOUT)
    db.session.add(layout)
    db.session.commit()
    form = text(client.get(f"/campaigns/{campaign.id}/settings"))
    assert campaign.name in form
    response = client.post(
        f"/campaigns/{campaign.id}/settings",
        data={
            "name": "Renamed",
            "lists": [str(partners.id)],
            "default_language": "en",
            "fallbacks": "pt es",
            "filter_languages": "uk pl",
            "filter_countries": "ua",
            "filter_groups": [str(kyiv.id)],
            "template": str(layout.id),
            "archive": "y",
        },
    )
    assert response.status_code == 302, flashed(response)
    db.session.expire_all()
    stored = db.session.get(Campaign, campaign.id)
    assert (stored.name, stored.fallbacks, stored.template_id, stored.archive) == (
        "Renamed",
        ["pt", "es"],
        layout.id,
        True,
    )
    assert stored.filters == {"languages": ["pl", "uk"], "countries": ["UA"], "groups": [kyiv.id]}
    bad = client.post(
        f"/campaigns/{campaign.id}/settings",
        data={
            "name": "X",
            "lists": [str(partners.id)],
            "default_language": "en",
            "filter_countries": "Ukraine",
            "template": "0",
        },
    )
    assert any("two-letter codes" in m for m in flashed(bad))


def test_schedule_from_the_panel_is_shown_in_the_organisers_zone(client):
    user = db.session.scalars(select(User)).one()
    users.set_timezone(user, "America/Argentina/Buenos_Aires")
    campaign = make_campaign({"en": "Hello"})
    summary = client.post(
        f"/campaigns/{campaign.id}/schedule",
        data={"when": "2099-06-01T09:00", "timezone": "Europe/Kyiv"},
    )
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    response = client.confirm(summary)
    assert "Scheduled for 2099-06-01 06:00 UTC." in flashed(response)
    page = text(response)
    assert (
        "Starts 2099-06-01 03:00 -03" in page and "(2099-06-01 09:00 EEST in Europe/Kyiv)" in page
    )
    bad = client.post(
        f"/campaigns/{campaign.id}/schedule",
        data={"when": "2099-06-01T09:00", "timezone": "Mars/Olympus"},
        follow_redirects=True,
    )
    assert any("not a time zone" in m for m in flashed(bad))
    client.post(f"/campaigns/{campaign.id}/unschedule")
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT


def test_test_send_form_queues_the_chosen_languages(client):
    campaign = make_campaign({"en": "Hello", "uk": "Привіт"})
    response = client.post(
        f"/campaigns/{campaign.id}/test",
        data={"addresses": "a@example.org, b@example.org", "languages": ["uk"]},
        follow_redirects=True,
    )
    assert "2 test messages are on their way" in flashed(response)[0]
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert sorted((r.to_address, r.language) for r in rows) == [
        ("a@example.org", "uk"),
        ("b@example.org", "uk"),
    ]
    assert 'id="test-sends"' in text(response)
    bad = client.post(
        f"/campaigns/{campaign.id}/test", data={"addresses": "nobody"}, follow_redirects=True
    )
    assert any("not a valid address" in m for m in flashed(bad))


def test_preview_as_a_chosen_subscriber_in_a_sandboxed_frame_at_two_widths(client):
    partners = make_list()
    make_subscriber("olena@example.org", language="uk", name="Олена", lists=[partners])
    campaign = make_campaign(
        {"uk": ("Привіт", "Вітаємо, {{ name | default('друзі') }}!")},
        lists=[partners],
        default_language="uk",
    )
    sample = text(client.get(f"/campaigns/{campaign.id}/preview/uk"))
    assert (
        "Вітаємо, друзі!" in sample
        and 'iframe class="mail desktop" title="HTML part" sandbox srcdoc=' in sample
    )
    chosen = text(
        client.get(f"/campaigns/{campaign.id}/preview/uk?email=Olena@example.org&width=mobile")
    )
    assert "Вітаємо, Олена!" in chosen and 'class="mail mobile"' in chosen
    unknown = client.get(f"/campaigns/{campaign.id}/preview/uk?email=nobody@example.org")
    assert unknown.status_code == 200
    assert any("no subscriber has the address" in m for m in flashed(unknown))
    assert client.get(f"/campaigns/{campaign.id}/preview/fr").status_code == 404


def test_export_download_and_import_upload(client):
    campaign = make_campaign({"en": ("Hello", "Body {{ name | default('x') }}")})
    exported = client.get(f"/campaigns/{campaign.id}/export.toml")
    assert exported.status_code == 200
    assert "attachment;" in exported.headers["Content-Disposition"]
    imported = client.post(
        "/campaigns/import",
        data={"file": (io.BytesIO(exported.data), "copy.toml")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 302 and "/campaigns/" in imported.headers["Location"]
    assert len(db.session.scalars(select(Campaign)).all()) == 2
    bad = client.post(
        "/campaigns/import",
        data={"file": (io.BytesIO(b"name = ["), "bad.toml")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert any("Nothing was imported: not valid TOML" in m for m in flashed(bad))


def test_layouts_are_checked_when_saved(client):
    page = text(client.get("/templates/new"))
    assert "{{ content }}" in page  # starts from the built-in layout
    refused = client.post(
        "/templates/new", data={"name": "Broken", "html": "<p>{{ config }}</p>{{ content }}"}
    )
    assert any("unknown value config" in m for m in flashed(refused))
    no_slot = client.post("/templates/new", data={"name": "Broken", "html": "<p>hi</p>"})
    assert any("no {{ content }} slot" in m.replace("&#39;", "'") for m in flashed(no_slot))
    saved = client.post(
        "/templates/new",
        data={
            "name": "Plain",
            "html": PLAIN_LAYOUT.replace("<body>", "<body><h1>{{ campaign }}</h1>"),
        },
    )
    assert saved.status_code == 302
    layout = db.session.scalars(select(Template)).one()
    assert "Plain" in text(client.get("/templates"))
    client.post(f"/templates/{layout.id}/delete")
    assert db.session.scalars(select(Template)).all() == []


def test_account_time_zone(client):
    assert client.post("/account", data={"timezone": "Europe/Warsaw"}).status_code == 302
    assert db.session.scalars(select(User)).one().timezone == "Europe/Warsaw"
    bad = client.post("/account", data={"timezone": "Warsaw"}, follow_redirects=True)
    assert any("not a time zone" in m for m in flashed(bad))
