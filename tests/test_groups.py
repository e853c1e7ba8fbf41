"""Partner groups: create, edit, merge, delete; every bad field refused clearly."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audience import groups
from app.audience.groups import GroupFields
from app.campaigns import drafts
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Group, Report, Subscriber
from tests.support.factories import make_campaign, make_list, make_subscriber


def test_create_and_edit_a_group_with_every_field(app):
    group = groups.create_group(
        GroupFields(
            name=" Kyiv  mutual aid ",
            country="ua",
            city="Kyiv",
            website="https://aid.example.org/kyiv",
            languages="uk, en pt_br uk",
            notes="Meets on Tuesdays.",
        )
    )
    stored = db.session.get(Group, group.id)
    assert (stored.name, stored.country, stored.city, stored.languages) == (
        "Kyiv mutual aid",
        "UA",
        "Kyiv",
        ["uk", "en", "pt-BR"],
    )
    groups.update_group(group.id, GroupFields(name="Kyiv aid", country="", languages="uk"))
    db.session.expire_all()
    stored = db.session.get(Group, group.id)
    assert (stored.name, stored.country, stored.website, stored.notes) == (
        "Kyiv aid",
        None,
        None,
        "",
    )


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": "  "}, "a group needs a name"),
        ({"name": "kyiv AID"}, "a group named 'kyiv AID' exists already"),
        ({"country": "Ukraine"}, "is not a two-letter country code"),
        ({"website": "aid.example.org"}, "is not a web address"),
        ({"website": "javascript:alert(1)"}, "is not a web address"),
        ({"languages": "uk english!"}, "'english!' is not a language tag"),
        ({"city": "x" * 121}, "the city is longer than 120"),
    ],
)
def test_bad_group_fields_are_refused_and_nothing_changes(app, fields, problem):
    groups.create_group(GroupFields(name="Kyiv aid", country="UA"))
    with pytest.raises(InvalidInput, match=problem):
        groups.create_group(GroupFields(**{"name": "Lviv aid", **fields}))
    assert db.session.scalar(select(func.count()).select_from(Group)) == 1


def test_merge_moves_subscribers_and_reports_and_joins_languages_and_notes(app):
    partners = make_list()
    keep = groups.create_group(GroupFields(name="Kyiv aid", languages="uk", notes="First."))
    absorb = groups.create_group(
        GroupFields(name="Kyiv aid (old)", country="UA", languages="ru uk en", notes="Second.")
    )
    make_subscriber("a@example.org", group=keep, lists=[partners])
    b = make_subscriber("b@example.org", group=absorb, lists=[partners])
    campaign = make_campaign({"en": "Hi"}, lists=[partners])
    drafts.update_campaign(
        campaign.id, campaign.name, lists=[partners], filters={"groups": [absorb.id]}
    )
    db.session.add(
        Report(
            campaign_id=campaign.id,
            subscriber_id=b.id,
            group_id=absorb.id,
            language="en",
            title="March",
        )
    )
    db.session.commit()
    absorb_id = absorb.id
    # A draft that names only the absorbed group would reach the kept group's members too.
    with pytest.raises(Conflict, match=r"would reach Kyiv aid's members too.*change them first"):
        groups.merge_groups(keep.id, absorb_id)
    assert db.session.get(Group, absorb_id) is not None
    drafts.update_campaign(
        campaign.id, campaign.name, lists=[partners], filters={"groups": [keep.id, absorb_id]}
    )
    groups.merge_groups(keep.id, absorb_id)
    db.session.expire_all()
    assert db.session.get(Group, absorb_id) is None
    kept = db.session.get(Group, keep.id)
    assert (kept.languages, kept.country) == (["uk", "ru", "en"], "UA")
    assert kept.notes == "First.\n\nFrom Kyiv aid (old):\nSecond."
    assert set(db.session.scalars(select(Subscriber.group_id))) == {keep.id}
    assert db.session.scalar(select(Report.group_id)) == keep.id
    assert drafts.get(campaign.id).filters["groups"] == [keep.id]


def test_merging_a_group_into_itself_is_refused(app):
    group = groups.create_group(GroupFields(name="Kyiv aid"))
    with pytest.raises(InvalidInput, match="choose another group"):
        groups.merge_groups(group.id, group.id)


def test_delete_keeps_subscribers_without_a_group(app):
    partners = make_list()
    group = groups.create_group(GroupFields(name="Kyiv aid"))
    make_subscriber("a@example.org", group=group, lists=[partners])
    assert groups.delete_group(group.id) == 1
    assert db.session.scalar(select(Subscriber.group_id)) is None
    assert db.session.scalar(select(func.count()).select_from(Group)) == 0


def test_a_group_in_an_unsent_campaigns_filter_cannot_be_deleted(app):
    partners = make_list()
    group = groups.create_group(GroupFields(name="Kyiv aid"))
    campaign = make_campaign({"en": "Hi"}, lists=[partners])
    drafts.update_campaign(
        campaign.id, campaign.name, lists=[partners], filters={"groups": [group.id]}
    )
    with pytest.raises(Conflict, match=f"in the filters of {campaign.name}"):
        groups.delete_group(group.id)
    assert db.session.get(Group, group.id) is not None


def test_groups_list_with_their_sizes(app):
    partners = make_list()
    kyiv = groups.create_group(GroupFields(name="Kyiv aid"))
    groups.create_group(GroupFields(name="Lviv aid"))
    make_subscriber("a@example.org", group=kyiv, lists=[partners])
    make_subscriber("b@example.org", group=kyiv, lists=[partners])
    assert [(g.name, n) for g, n in groups.groups_with_counts()] == [
        ("Kyiv aid", 2),
        ("Lviv aid", 0),
    ]
