"""Editing one subscriber: every field checked, lists set, history shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audience import records
from app.campaigns import lifecycle
from app.errors import InvalidInput
from app.extensions import db
from app.models import Subscriber, Subscription, SubscriptionStatus
from tests.support.factories import make_campaign, make_group, make_list, make_subscriber


def edit(subscriber_id: int, **changes):
    fields = dict(
        email="ann@example.org",
        name="Ann",
        language="en",
        country="",
        group_id=None,
        status="active",
        attributes="",
        list_ids=[],
    )
    return records.update_subscriber(subscriber_id, **{**fields, **changes})


def test_every_field_and_the_lists_change_together(app):
    partners, news = make_list(), make_list()
    kyiv = make_group("Kyiv aid", "UA")
    ann = make_subscriber("ann@example.org", lists=[partners])
    old_hash = ann.email_hash
    edit(
        ann.id,
        email="Ann.K@Example.org",
        name="Ann K",
        language="uk",
        country="pl",
        group_id=kyiv.id,
        attributes='{"city": "Lviv", "since": 2022}',
        list_ids=[news.id],
    )
    db.session.expire_all()
    stored = db.session.get(Subscriber, ann.id)
    assert (stored.email, stored.name, stored.language, stored.country, stored.group_id) == (
        "ann.k@example.org",
        "Ann K",
        "uk",
        "PL",
        kyiv.id,
    )
    assert stored.attributes == {"city": "Lviv", "since": 2022} and stored.email_hash != old_hash
    statuses = dict(
        db.session.execute(
            select(Subscription.list_id, Subscription.status).where(
                Subscription.subscriber_id == ann.id
            )
        ).all()
    )
    assert statuses == {
        partners.id: SubscriptionStatus.UNSUBSCRIBED,
        news.id: SubscriptionStatus.CONFIRMED,
    }


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"email": "bob@example.org"}, "another subscriber has the address bob@example.org"),
        ({"email": "not-an-address"}, "is not a valid address"),
        ({"language": "english!"}, "is not a language tag"),
        ({"country": "Poland"}, "is not a two-letter country code"),
        ({"attributes": "{city: Lviv}"}, "the attributes are not valid JSON"),
        ({"attributes": "[1, 2]"}, "the attributes must be a JSON object"),
        ({"status": "asleep"}, "'asleep' is not one of"),
        ({"group_id": 999999}, "there is no group with id 999999"),
        ({"list_ids": [999999]}, "there is no list with id 999999"),
    ],
)
def test_bad_fields_are_refused_and_nothing_changes(app, changes, problem):
    partners = make_list()
    ann = make_subscriber("ann@example.org", name="Ann", lists=[partners])
    make_subscriber("bob@example.org", lists=[partners])
    with pytest.raises(InvalidInput, match=problem):
        edit(ann.id, **{"list_ids": [partners.id], **changes})
    db.session.rollback()
    db.session.expire_all()
    stored = db.session.get(Subscriber, ann.id)
    assert (stored.email, stored.language, stored.attributes) == ("ann@example.org", "en", {})


def test_history_counts_deliveries_by_status(app):
    partners = make_list()
    ann = make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    seen = records.history(ann.id)
    assert seen["counts"] == {"queued": 1}
    assert [row.name for row in seen["latest"]] == [campaign.name]
    assert seen["reports"] == []
