"""Bulk actions on a selection (checked ids) and on a whole filter, asserted in the rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audience import bulk, subscribers, subscriptions, suppressions
from app.audience.bulk import BulkTarget, Selection
from app.audience.filters import SubscriberFilter
from app.campaigns import lifecycle
from app.errors import InvalidInput
from app.extensions import db
from app.models import (
    Delivery,
    OutboxMessage,
    Report,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from tests.support.factories import (
    make_campaign,
    make_group,
    make_list,
    make_subscriber,
    make_subscribers,
)


def subscription_of(email: str, list_id: int) -> SubscriptionStatus | None:
    return db.session.scalar(
        select(Subscription.status)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscriber.email == email, Subscription.list_id == list_id)
    )


def ids(*emails: str) -> tuple[int, ...]:
    return tuple(subscribers.find(e).id for e in emails)


def test_add_to_list_on_a_selection_confirms_and_never_revives_who_left(app):
    partners, news = make_list(), make_list()
    for e in ("a@example.org", "b@example.org", "c@example.org"):
        make_subscriber(e, lists=[partners])
    make_subscriber("left@example.org", lists=[news])
    bulk.remove_from_list(Selection(ids("left@example.org")), news.id)
    chosen = Selection(ids("a@example.org", "b@example.org", "left@example.org"))
    assert bulk.add_to_list(chosen, news.id) == 2
    assert subscription_of("a@example.org", news.id) == SubscriptionStatus.CONFIRMED
    assert subscription_of("c@example.org", news.id) is None
    assert subscription_of("left@example.org", news.id) == SubscriptionStatus.UNSUBSCRIBED
    assert bulk.add_to_list(chosen, news.id) == 0  # insert-or-ignore


def test_add_to_list_on_a_whole_filter(app):
    partners, news = make_list(), make_list()
    make_subscribers(30, lists=[partners], language="uk")
    make_subscribers(5, lists=[partners], prefix="en")
    added = bulk.add_to_list(Selection(filter=SubscriberFilter(language="uk")), news.id)
    assert added == 30
    on_news = select(func.count()).select_from(Subscription).where(Subscription.list_id == news.id)
    assert db.session.scalar(on_news) == 30


def test_remove_from_list_on_a_filter_unsubscribes_with_the_time(app):
    partners = make_list()
    make_subscriber("a@example.org", language="uk", lists=[partners])
    make_subscriber("b@example.org", language="en", lists=[partners])
    whole = Selection(filter=SubscriberFilter(list_id=partners.id, language="uk"))
    assert bulk.remove_from_list(whole, partners.id) == 1
    row = db.session.scalar(
        select(Subscription).where(Subscription.subscriber_id == ids("a@example.org")[0])
    )
    assert row.status == SubscriptionStatus.UNSUBSCRIBED and row.unsubscribed_at is not None
    assert subscription_of("b@example.org", partners.id) == SubscriptionStatus.CONFIRMED


def test_change_language_on_a_selection_and_a_filter(app):
    partners = make_list()
    kyiv = make_group("Kyiv aid", "UA")
    make_subscriber("a@example.org", group=kyiv, lists=[partners])
    make_subscriber("b@example.org", group=kyiv, lists=[partners])
    make_subscriber("c@example.org", lists=[partners])
    assert bulk.change_language(Selection(ids("c@example.org")), "pt_br") == 1
    assert bulk.change_language(Selection(filter=SubscriberFilter(group_id=kyiv.id)), "uk")
    db.session.expire_all()
    languages = dict(db.session.execute(select(Subscriber.email, Subscriber.language)).all())
    assert languages == {"a@example.org": "uk", "b@example.org": "uk", "c@example.org": "pt-BR"}


def test_blocklist_on_a_filter_suppresses_their_hashes_and_a_new_campaign_skips_them(app):
    partners = make_list()
    make_subscribers(4, lists=[partners], prefix="bad")
    make_subscribers(3, lists=[partners], prefix="good")
    whole = Selection(filter=SubscriberFilter(query="bad", status="active"))
    assert bulk.blocklist(whole) == 4
    statuses = db.session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    )
    assert dict(statuses.all()) == {SubscriberStatus.BLOCKLISTED: 4, SubscriberStatus.ACTIVE: 3}
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 4
    assert suppressions.is_suppressed("bad000001@example.org")
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    assert lifecycle.start_sending(campaign.id) == 3


def test_delete_removes_the_unmailed_and_anonymises_who_is_in_a_ledger(app):
    partners = make_list()
    kyiv = make_group("Kyiv aid", "UA")
    mailed = make_subscriber("mailed@example.org", name="Ann", group=kyiv, lists=[partners])
    make_subscriber("fresh@example.org", lists=[partners])
    make_subscriber("keep@example.org", language="uk", lists=[partners])
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    db.session.add(
        Report(
            campaign_id=campaign.id,
            subscriber_id=mailed.id,
            group_id=kyiv.id,
            language="en",
            title="March",
        )
    )
    db.session.commit()
    result = bulk.delete_subscribers(
        Selection(filter=SubscriberFilter(list_id=partners.id, language="en"))
    )
    assert (result.deleted, result.anonymised) == (0, 2)  # both were in the ledger
    result = bulk.delete_subscribers(Selection(ids("keep@example.org")))
    assert (result.deleted, result.anonymised) == (0, 1)
    rows = db.session.scalars(select(Subscriber)).all()
    assert all(r.email.endswith("@erased.invalid") and r.name == "" for r in rows)
    assert all(r.status == SubscriberStatus.BLOCKLISTED and r.group_id is None for r in rows)
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 0
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 3  # counts add up
    report = db.session.scalar(select(Report))
    assert (report.subscriber_id, report.group_id) == (None, kyiv.id)
    assert not suppressions.is_suppressed("mailed@example.org")  # may be added again
    again = make_subscriber("mailed@example.org", lists=[partners])
    assert again.status == SubscriberStatus.ACTIVE


def test_delete_of_someone_never_mailed_removes_the_row_and_their_queued_mail(app):
    partners = make_list()
    a = make_subscriber("a@example.org", lists=[partners])
    b = make_subscriber("b@example.org", lists=[partners])
    for subscriber in (a, b):
        subscriptions.queue_goodbye(subscriber, [partners.name])
    db.session.commit()
    result = bulk.delete_subscribers(Selection(ids("a@example.org")))
    assert (result.deleted, result.anonymised) == (1, 0)
    assert [s.email for s in db.session.scalars(select(Subscriber))] == ["b@example.org"]
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 1
    assert db.session.scalars(select(OutboxMessage.to_address)).all() == ["b@example.org"]


@pytest.mark.parametrize(
    ("action", "options", "problem"),
    [
        ("add_to_list", {}, "choose a list"),
        ("remove_from_list", {"list_id": 999999}, "choose a list"),
        ("change_language", {"language": ""}, "give the new language"),
        ("change_language", {"language": "not a tag"}, "is not a language tag"),
        ("explode", {}, "'explode' is not a bulk action"),
    ],
)
def test_bad_bulk_actions_are_refused_and_change_nothing(app, action, options, problem):
    partners = make_list()
    make_subscriber("a@example.org", lists=[partners])
    with pytest.raises(InvalidInput, match=problem):
        bulk.apply(BulkTarget.of(action, **options), Selection(ids("a@example.org")))
    row = db.session.scalar(select(Subscriber))
    assert (row.language, row.status) == ("en", SubscriberStatus.ACTIVE)
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_an_empty_selection_is_refused(app):
    with pytest.raises(InvalidInput, match="choose at least one subscriber"):
        Selection()
    with pytest.raises(InvalidInput, match="at most 1000"):
        Selection(tuple(range(1001)))
