"""The audience pages through HTTP: search and pages, bulk actions with confirmation, one
subscriber's page, groups, suppressions and blocked domains."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.accounts import users
from app.audience import subscribers, suppressions
from app.audience.groups import GroupFields, create_group
from app.extensions import db
from app.models import (
    Group,
    MailingList,
    Report,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
)
from tests.support.factories import (
    make_campaign,
    make_group,
    make_list,
    make_subscriber,
    make_subscribers,
)
from tests.support.panel import flashed, text


def listed(response) -> list[str]:
    return re.findall(r'<td><a href="/subscribers/\d+">([^<]+)</a></td>', text(response))


def test_a_list_is_created_and_its_settings_changed_with_its_default_language(client):
    fields = {"name": "Partners", "visibility": "public", "optin": "single"}
    client.post("/lists", {**fields, "slug": "partners", "default_language": "uk"})
    partners = db.session.scalar(select(MailingList))
    assert (partners.default_language, partners.optin.value) == ("uk", "single")
    page = text(client.get(f"/lists/{partners.id}"))
    assert 'value="uk"' in page and "<code>partners</code>" in page
    bad = client.post(f"/lists/{partners.id}", {**fields, "default_language": "not a tag!"})
    assert "is not a language tag" in text(bad)
    saved = client.post(
        f"/lists/{partners.id}",
        {**fields, "name": "Partner groups", "optin": "double", "default_language": "pt_br"},
        follow_redirects=True,
    )
    assert "Saved the list Partner groups." in text(saved)
    db.session.expire_all()
    partners = db.session.get(MailingList, partners.id)
    assert (partners.name, partners.slug, partners.default_language, partners.optin.value) == (
        "Partner groups",
        "partners",
        "pt-BR",
        "double",
    )
    assert client.get("/lists/999").status_code == 404


def test_the_subscribers_page_filters_counts_and_pages_by_keyset(client):
    partners = make_list()
    make_subscribers(60, lists=[partners], language="uk")
    make_subscriber("zz@example.org", language="pl", lists=[partners])
    first = client.get("/subscribers?language=uk")
    assert len(listed(first)) == 50 and "<strong>60</strong> matching" in text(first)
    after = re.search(r'href="(/subscribers\?after=[^"]+)" id="next"', text(first)).group(1)
    second = client.get(after.replace("&amp;", "&"))
    assert len(listed(second)) == 10 and not set(listed(first)) & set(listed(second))
    assert listed(client.get("/subscribers?q=zz")) == ["zz@example.org"]
    bad = client.get("/subscribers?country=Ukraine&language=uk")
    assert any("Filter not applied" in m and "two-letter country code" in m for m in flashed(bad))


def test_a_bulk_action_on_checked_subscribers_runs_at_once(client):
    partners, news = make_list(), make_list(name="News")
    a = make_subscriber("a@example.org", lists=[partners])
    make_subscriber("b@example.org", lists=[partners])
    done = client.post(
        "/subscribers/bulk",
        data={
            "action-kind": "add_to_list",
            "action-list": str(news.id),
            "scope": "selected",
            "ids": [a.id],
        },
        follow_redirects=True,
    )
    assert "Added 1 to News." in flashed(done)
    on_news = select(Subscription.subscriber_id).where(Subscription.list_id == news.id)
    assert list(db.session.scalars(on_news)) == [a.id]


def test_deleting_the_whole_filter_asks_first_with_the_exact_count(client):
    partners = make_list()
    make_subscribers(12, lists=[partners], prefix="gone")
    make_subscriber("stays@example.org", lists=[partners])
    form = {"action-kind": "delete", "scope": "all", "filter-q": "gone"}
    asked = client.post("/subscribers/bulk", data=form)
    assert asked.status_code == 200 and "Delete: 12 subscribers?" in text(asked)
    assert 'name="filter-q" type="hidden" value="gone"' in text(asked)
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 13
    done = client.post("/subscribers/bulk", data={**form, "confirmed": "1"}, follow_redirects=True)
    assert any(m.startswith("Deleted 12;") for m in flashed(done))
    assert [s.email for s in db.session.scalars(select(Subscriber))] == ["stays@example.org"]


def test_a_bad_filter_never_widens_a_bulk_action_to_everyone(client):
    partners = make_list()
    make_subscribers(3, lists=[partners])
    form = {"action-kind": "delete", "scope": "all", "filter-country": "Ukraine", "confirmed": "1"}
    done = client.post("/subscribers/bulk", data=form, follow_redirects=True)
    assert any(m.startswith("Nothing changed:") for m in flashed(done)), flashed(done)
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 3


def test_blocklisting_checked_subscribers_is_confirmed_first(client):
    partners = make_list()
    a = make_subscriber("a@example.org", lists=[partners])
    form = {"action-kind": "blocklist", "scope": "selected", "ids": [a.id]}
    assert "Blocklist (and suppress their addresses): 1 subscriber?" in text(
        client.post("/subscribers/bulk", data=form)
    )
    done = client.post("/subscribers/bulk", data={**form, "confirmed": "1"}, follow_redirects=True)
    assert "Blocklisted 1; their addresses are suppressed." in flashed(done)
    assert suppressions.is_suppressed("a@example.org")


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"action-kind": "add_to_list", "action-list": "{list}"}, "choose at least one subscriber"),
        ({"action-kind": "add_to_list", "action-list": "{list}", "ids": ["x"]}, "not a subscriber"),
        ({"action-kind": "add_to_list", "scope": "selected", "ids": ["{id}"]}, "choose a list"),
        ({"action-kind": "change_language", "ids": ["{id}"], "action-language": "??"}, "not a la"),
        ({"action-kind": "change_language", "ids": ["{id}"], "action-language": "ua"}, "mean uk?"),
        ({"action-kind": "explode", "ids": ["{id}"]}, "is not a bulk action"),
        ({"action": "add_to_list", "list": "{list}", "ids": ["{id}"]}, "from an older page"),
    ],
)
def test_bad_bulk_forms_say_what_is_wrong_and_change_nothing(client, form, problem):
    partners = make_list()
    a = make_subscriber("a@example.org", lists=[partners])
    form = {
        k: [v.format(id=a.id) for v in vs] if isinstance(vs, list) else vs.format(list=partners.id)
        for k, vs in form.items()
    }
    done = client.post("/subscribers/bulk", data=form, follow_redirects=True)
    assert any(problem in m for m in flashed(done)), flashed(done)
    row = db.session.scalar(select(Subscriber))
    assert (row.language, row.status) == ("en", SubscriberStatus.ACTIVE)
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_the_subscriber_page_edits_fields_and_shows_bad_input(client):
    partners = make_list(name="Partners")
    ann = make_subscriber("ann@example.org", name="Ann", lists=[partners])
    page = text(client.get(f"/subscribers/{ann.id}"))
    assert 'value="ann@example.org"' in page and "Partners" in page
    fields = {
        "email": "ann@example.org",
        "name": "Ann K",
        "language": "uk",
        "country": "ua",
        "group": "0",
        "status": "active",
        "attributes": '{"city": "Lviv"}',
        "lists": [str(partners.id)],
    }
    assert client.post(f"/subscribers/{ann.id}", data=fields).status_code == 302
    db.session.expire_all()
    stored = subscribers.find("ann@example.org")
    assert (stored.name, stored.language, stored.country, stored.attributes) == (
        "Ann K",
        "uk",
        "UA",
        {"city": "Lviv"},
    )
    bad = client.post(f"/subscribers/{ann.id}", data={**fields, "attributes": "[1]"})
    assert bad.status_code == 200
    assert any("must be a JSON object" in m for m in flashed(bad))
    assert client.get("/subscribers/999999").status_code == 404


def test_group_pages_create_edit_merge_and_delete(client):
    partners = make_list()
    created = client.post(
        "/groups",
        data={
            "name": "Kyiv aid",
            "country": "ua",
            "languages": "uk en",
            "website": "https://k.example",
        },
    )
    kyiv = db.session.scalar(select(Group).where(Group.name == "Kyiv aid"))
    assert created.headers["Location"] == f"/groups/{kyiv.id}"
    refused = client.post("/groups", data={"name": "Lviv", "website": "lviv.example"})
    assert any("is not a web address" in m for m in flashed(refused))
    old = create_group(GroupFields(name="Kyiv old", languages="ru"))
    member = make_subscriber("a@example.org", group=old, lists=[partners])
    campaign = make_campaign({"en": "Hi"}, lists=[partners])
    db.session.add(
        Report(
            campaign_id=campaign.id,
            subscriber_id=member.id,
            group_id=old.id,
            language="en",
            title="Vigil at the station",
            place="Kyiv",
        )
    )
    db.session.commit()
    assert "Vigil at the station" in text(client.get(f"/groups/{old.id}"))
    page = text(client.get(f"/groups/{kyiv.id}"))
    assert "Delete Kyiv aid (its 0 subscribers stay, with no group)" in page
    assert "Vigil at the station" not in page
    merged = client.post(
        f"/groups/{kyiv.id}/merge", data={"other": str(old.id)}, follow_redirects=True
    )
    assert "Merged Kyiv old into this group." in flashed(merged)
    reported = text(merged).split("Reported back")[1]
    assert "a@example.org" in text(merged) and "Vigil at the station" in reported
    gone = client.post(f"/groups/{kyiv.id}/delete", follow_redirects=True)
    assert "Deleted Kyiv aid; its 1 subscribers stay, with no group." in flashed(gone)
    assert subscribers.find("a@example.org").group_id is None


def test_suppression_page_checks_adds_and_removes_with_a_reason(client):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    client.post("/suppressions", data={"address": "ann@example.org", "note": "by phone"})
    checked = text(client.get("/suppressions?address=Ann@example.org"))
    assert (
        "ann@example.org:" in checked and "suppressed (manual" in checked and "by phone" in checked
    )
    refused = client.post(
        "/suppressions/remove", data={"address": "ann@example.org"}, follow_redirects=True
    )
    assert any("say why" in m for m in flashed(refused))
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1
    done = client.post(
        "/suppressions/remove",
        data={"address": "ann@example.org", "reason": "came back"},
        follow_redirects=True,
    )
    assert any(m.startswith("Removed (it was suppressed for: manual)") for m in flashed(done))
    assert not suppressions.is_suppressed("ann@example.org")


def test_blocked_domains_are_added_and_removed_with_a_reason(client):
    partners = make_list()
    make_subscriber("x@spam.example", lists=[partners])
    added = client.post(
        "/blocked-domains", data={"domain": "spam.example", "reason": "junk"}, follow_redirects=True
    )
    assert "Blocked; 1 subscribers there are now blocklisted." in flashed(added)
    assert "spam.example" in text(added)
    bad = client.post("/blocked-domains", data={"domain": "not a domain"}, follow_redirects=True)
    assert any("is not a domain" in m for m in flashed(bad))
    domain_id = suppressions.blocked_domains()[0].id
    kept = client.post(
        f"/blocked-domains/{domain_id}/remove", data={"reason": " "}, follow_redirects=True
    )
    assert any("say why" in m for m in flashed(kept)) and suppressions.blocked_domains()
    client.post(f"/blocked-domains/{domain_id}/remove", data={"reason": "real provider"})
    assert suppressions.blocked_domains() == []


def test_viewers_see_the_audience_pages_but_cannot_change_them(app):
    from tests.support.panel import csrf_token, login

    users.create_user("viewer@example.org", "correct horse battery", "viewer")
    group = make_group("Kyiv aid")
    http = app.test_client()
    login(http, "viewer@example.org")
    for path in ("/subscribers", "/groups", f"/groups/{group.id}", "/suppressions"):
        assert http.get(path).status_code == 200, path
    token = csrf_token(http, "/suppressions")
    assert http.post(f"/groups/{group.id}/delete", data={"csrf_token": token}).status_code == 403
    assert db.session.get(Group, group.id) is not None
