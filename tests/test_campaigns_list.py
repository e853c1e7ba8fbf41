"""The campaigns list through HTTP: dates as an organiser reads them, the status filter and
the name search (one at a time and together), refused values at their field, pages; and
"Duplicate campaign": the database after the click, names, who may, CSRF, the CLI."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from app.campaigns import copies, drafts
from app.errors import NotFound
from app.extensions import db
from app.messages import layouts
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    User,
    Variant,
)
from tests.support.factories import make_campaign, make_group, make_list, make_subscriber
from tests.support.panel import csrf_token, flashed, logged_in_client, signed_in, text


def _set(campaign: Campaign, **values: object) -> None:
    stored = db.session.get(Campaign, campaign.id)
    for key, value in values.items():
        setattr(stored, key, value)
    db.session.commit()


def _row(page: str, campaign_id: int) -> str:
    start = page.index(f'data-campaign="{campaign_id}"')
    return page[start : page.index("</tr>", start)]


def _names(page: str) -> list[str]:
    table = page[page.index('id="campaign-list"') : page.index("</table>")]
    return re.findall(r'<a href="/campaigns/\d+">([^<]*)</a>', table)


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_list_shows_each_date_compactly_and_the_schedule_in_its_own_zone(client):
    campaign = make_campaign({"en": "Hello"})
    _set(
        campaign,
        status=CampaignStatus.SENT,
        created_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        scheduled_at=datetime(2026, 12, 8, 12, 5, tzinfo=UTC),
        schedule_timezone="Europe/Kyiv",
        started_at=datetime(2026, 12, 8, 12, 5, 30, tzinfo=UTC),
        finished_at=datetime(2026, 12, 8, 13, 0, tzinfo=UTC),
    )
    draft = make_campaign({"en": "Not yet"})

    page = text(client.get("/campaigns"))
    row = _plain(_row(page, campaign.id))
    # The organiser's zone is UTC; the schedule is read in Kyiv, where it was set (UTC+2).
    assert "1 Dec 2026, 09:30 8 Dec 2026, 14:05 Europe/Kyiv 8 Dec 2026, 12:05" in row
    assert "8 Dec 2026, 13:00" in row
    assert '<time datetime="2026-12-08T12:05:00+00:00">8 Dec 2026, 14:05</time>' in _row(
        page, campaign.id
    )
    # A draft has no schedule, start or finish: a dash each, never "None".
    assert _plain(_row(page, draft.id)).count("–") == 3
    assert "None" not in _row(page, draft.id)


def test_dates_follow_the_organisers_own_zone(app):
    http = logged_in_client(app, "owner", "kyiv@example.org")
    user = db.session.scalar(select(User).where(User.email == "kyiv@example.org"))
    user.timezone = "America/Argentina/Buenos_Aires"
    db.session.commit()
    campaign = make_campaign({"en": "Hello"})
    _set(campaign, created_at=datetime(2026, 12, 8, 2, 5, tzinfo=UTC))
    row = _plain(_row(text(http.get("/campaigns")), campaign.id))
    assert "7 Dec 2026, 23:05" in row  # UTC−3


def test_the_status_filter_and_the_search_each_narrow_and_combine(client):
    spring_draft = make_campaign({"en": "a"})
    _set(spring_draft, name="Spring appeal")
    spring_sent = make_campaign({"en": "b"})
    _set(spring_sent, name="SPRING newsletter", status=CampaignStatus.SENT)
    winter_sent = make_campaign({"en": "c"})
    _set(winter_sent, name="Winter newsletter", status=CampaignStatus.SENT)
    paused = make_campaign({"en": "d"})
    _set(paused, name="Paused one", status=CampaignStatus.PAUSED)

    everyone = _names(text(client.get("/campaigns")))
    assert set(everyone) == {
        "Spring appeal",
        "SPRING newsletter",
        "Winter newsletter",
        "Paused one",
    }
    assert _names(text(client.get("/campaigns?status=sent"))) == [
        "Winter newsletter",
        "SPRING newsletter",
    ]
    assert _names(text(client.get("/campaigns?status=paused"))) == ["Paused one"]
    assert _names(text(client.get("/campaigns?status=cancelled"))) == []
    assert "No campaign matches." in text(client.get("/campaigns?status=cancelled"))
    assert _names(text(client.get("/campaigns?q=spring"))) == ["SPRING newsletter", "Spring appeal"]
    assert _names(text(client.get("/campaigns?q=  NEWS  "))) == [
        "Winter newsletter",
        "SPRING newsletter",
    ]
    both = text(client.get("/campaigns?q=Spring&status=sent"))
    assert _names(both) == ["SPRING newsletter"]
    # The form shows what is applied.
    assert 'value="Spring"' in both and "<option selected>sent</option>" in both


def test_search_ignores_case_in_every_alphabet(client):
    for name in ("ЗИМОВИЙ збір", "Zimowa ZBIÓRKA", "Winter"):
        _set(make_campaign({"en": "x"}), name=name)
    assert _names(text(client.get("/campaigns?q=зимовий"))) == ["ЗИМОВИЙ збір"]
    assert _names(text(client.get("/campaigns?q=Збір"))) == ["ЗИМОВИЙ збір"]
    assert _names(text(client.get("/campaigns?q=zbiórka"))) == ["Zimowa ZBIÓRKA"]


def test_search_takes_percent_underscore_and_backslash_literally(client):
    for name in ("50% off", "500 off", "a_b", "axb", r"back\slash", "backslash"):
        _set(make_campaign({"en": "x"}), name=name)
    assert _names(text(client.get("/campaigns?q=%25"))) == ["50% off"]
    assert _names(text(client.get("/campaigns?q=_"))) == ["a_b"]
    assert _names(text(client.get("/campaigns?q=a_b"))) == ["a_b"]
    assert _names(text(client.get("/campaigns?q=%5C"))) == [r"back\slash"]


def test_a_bad_status_is_refused_at_its_field_and_the_search_still_applies(client):
    _set(make_campaign({"en": "x"}), name="Spring appeal")
    _set(make_campaign({"en": "x"}), name="Winter appeal")
    response = client.get("/campaigns?status=shipped&q=spring")
    page = text(response)
    assert response.status_code == 200
    error = re.search(r'<span class="error" id="filter-error-status">([^<]*)</span>', page)
    assert error and "'shipped' is not a campaign status" in html.unescape(error.group(1))
    assert "draft, scheduled, sending, paused, sent, cancelled" in error.group(1)
    assert 'name="status" aria-invalid="true" aria-describedby="filter-error-status"' in page
    assert any("Filter not applied" in m and "shipped" in m for m in flashed(response))
    assert _names(page) == ["Spring appeal"]


def test_a_year_of_campaigns_comes_a_page_at_a_time(client):
    db.session.execute(
        insert(Campaign),
        [{"name": f"Weekly {n:03}", "uid": f"weekly{n:026}"} for n in range(130)],
    )
    db.session.commit()
    first = text(client.get("/campaigns"))
    assert len(_names(first)) == 50 and _names(first)[0] == "Weekly 129"
    seen = list(_names(first))
    path = re.search(r'href="([^"]*)" id="next"', first).group(1).replace("&amp;", "&")
    while path:
        page = text(client.get(path))
        seen += _names(page)
        found = re.search(r'href="([^"]*)" id="next"', page)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == [f"Weekly {n:03}" for n in range(129, -1, -1)]
    # The filter rides along from page to page.
    filtered = text(client.get("/campaigns?q=weekly 0&status=draft"))
    following = re.search(r'href="([^"]*)" id="next"', filtered).group(1).replace("&amp;", "&")
    assert "q=weekly+0" in following and "status=draft" in following
    assert _names(text(client.get(following))) == [f"Weekly {n:03}" for n in range(49, -1, -1)]
    bad = client.get("/campaigns?before=abc")
    assert bad.status_code == 200 and _names(text(bad))[0] == "Weekly 129"


def _rich_campaign() -> Campaign:
    partners, friends = make_list(), make_list()
    make_subscriber("ann@example.org", lists=[partners])
    kyiv = make_group("Kyiv mutual aid", "UA")
    layout = layouts.save_template("Plain", layouts.default_layout())
    campaign = make_campaign(
        {},
        lists=[partners, friends],
        default_language="uk",
        fallbacks=["pl", "en"],
        from_address="Mutual Aid <news@example.org>",
        template=layout,
        smtp_server="main",
        archive=True,
        filters={"languages": ["uk"], "countries": ["UA"], "groups": [kyiv.id]},
    )
    drafts.save_variant(
        campaign.id, "uk", subject="Привіт", body="<p>Текст</p>", body_format="html",
        preheader="Коротко", ready=False,
        footer=("Ви в %(lists)s", "Відписатися", "Налаштування"),
    )  # fmt: skip
    drafts.save_variant(campaign.id, "en", subject="Hello", body="Text")
    return campaign


def _variants(campaign_id: int) -> list[tuple]:
    rows = db.session.scalars(
        select(Variant).where(Variant.campaign_id == campaign_id).order_by(Variant.language)
    )
    return [
        (v.language, v.subject, v.preheader, v.body, v.body_format, v.ready, v.footer_reason,
         v.unsubscribe_label, v.preferences_label)
        for v in rows
    ]  # fmt: skip


def test_duplicate_makes_a_draft_with_every_setting_and_variant_and_none_of_its_life(client):
    original = _rich_campaign()
    _set(
        original,
        status=CampaignStatus.SENT,
        scheduled_at=datetime(2026, 12, 8, 12, 0, tzinfo=UTC),
        schedule_timezone="Europe/Kyiv",
        not_ready="hold",
        started_at=datetime(2026, 12, 8, 12, 0, tzinfo=UTC),
        finished_at=datetime(2026, 12, 8, 12, 30, tzinfo=UTC),
        progress_samples=[[1.0, 0], [2.0, 1]],
        status_reason="done",
    )
    subscriber_id = db.session.scalar(select(Subscriber.id))
    db.session.add(
        Delivery(campaign_id=original.id, subscriber_id=subscriber_id, status=DeliveryStatus.SENT)
    )
    db.session.commit()
    before = _variants(original.id)
    listing = text(client.get("/campaigns"))
    assert f'action="/campaigns/{original.id}/duplicate"' in listing

    response = client.post(f"/campaigns/{original.id}/duplicate")
    assert response.status_code == 302
    db.session.expire_all()
    copy = db.session.scalar(select(Campaign).where(Campaign.id != original.id))
    assert response.headers["Location"].endswith(f"/campaigns/{copy.id}")
    shown = client.get(response.headers["Location"])
    assert f"Created the draft “Copy of {original.name}”" in " ".join(flashed(shown))

    source = db.session.get(Campaign, original.id)
    assert copy.name == f"Copy of {source.name}"
    assert copy.status == CampaignStatus.DRAFT and copy.uid != source.uid
    assert sorted(m.id for m in copy.lists) == sorted(m.id for m in source.lists)
    assert len(copy.lists) == 2
    for key in ("filters", "default_language", "fallbacks", "from_address", "template_id",
                "smtp_server", "archive"):  # fmt: skip
        assert getattr(copy, key) == getattr(source, key), key
    assert copy.archive is True and copy.smtp_server == "main" and copy.template_id
    assert _variants(copy.id) == before and len(before) == 2
    assert (copy.scheduled_at, copy.started_at, copy.finished_at, copy.not_ready) == (
        None, None, None, None,
    )  # fmt: skip
    assert copy.schedule_timezone == "UTC" and copy.progress_samples == []
    assert copy.status_reason == ""
    assert db.session.scalar(select(func.count()).where(Delivery.campaign_id == copy.id)) == 0
    # The original is untouched.
    assert source.status == CampaignStatus.SENT and _variants(source.id) == before
    assert db.session.scalar(select(func.count()).where(Delivery.campaign_id == source.id)) == 1
    # The copy is a draft that can be changed.
    drafts.save_variant(copy.id, "en", subject="Hello again", body="Text")


def test_a_copys_name_is_numbered_when_taken(client):
    original = make_campaign({"en": "x"})
    _set(original, name="Appeal")
    names = []
    for _ in range(3):
        client.post(f"/campaigns/{original.id}/duplicate")
        names.append(db.session.scalars(select(Campaign.name).order_by(Campaign.id.desc())).first())
    assert names == ["Copy of Appeal", "Copy of Appeal (2)", "Copy of Appeal (3)"]
    copy = db.session.scalar(select(Campaign).where(Campaign.name == "Copy of Appeal"))
    assert copies.duplicate(copy.id).name == "Copy of Copy of Appeal"
    long = make_campaign({"en": "x"})
    _set(long, name="L" * 200)
    first, second = copies.duplicate(long.id), copies.duplicate(long.id)
    assert len(first.name) == len(second.name) == 200
    assert second.name.endswith("L (2)") and first.name != second.name


def test_a_viewer_may_not_duplicate_and_nothing_is_created(app):
    original = make_campaign({"en": "x"})
    viewer = signed_in(app, "viewer")
    page = text(viewer.get("/campaigns"))
    assert "/duplicate" not in page  # no button to press
    token = csrf_token(viewer, "/campaigns")
    refused = viewer.post(f"/campaigns/{original.id}/duplicate", data={"csrf_token": token})
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_a_duplicate_without_the_csrf_token_is_refused(app):
    original = make_campaign({"en": "x"})
    owner = logged_in_client(app)
    refused = owner.post(f"/campaigns/{original.id}/duplicate")
    assert refused.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_duplicating_a_missing_campaign_is_a_typed_error_and_a_404(client):
    with pytest.raises(NotFound, match="no campaign with id 999"):
        copies.duplicate(999)
    assert client.post("/campaigns/999/duplicate").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_the_command_line_duplicates_and_prints_the_new_id(app):
    original = make_campaign({"en": "x"})
    runner = app.test_cli_runner()
    done = runner.invoke(args=["campaigns", "duplicate", str(original.id)])
    assert done.exit_code == 0, done.output
    copy = db.session.get(Campaign, int(done.output.strip()))
    assert copy.name == f"Copy of {original.name}" and copy.status == CampaignStatus.DRAFT
    missing = runner.invoke(args=["campaigns", "duplicate", "999"])
    assert missing.exit_code == 1 and "no campaign with id 999" in missing.output
