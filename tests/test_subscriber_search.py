"""Subscriber search: prefixes, each filter, keyset pages, the capped cached total."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.audience import counts, groups, subscribers
from app.audience.groups import GroupFields
from app.audience.subscribers import SubscriberFilter, search
from app.errors import InvalidInput
from app.extensions import db
from app.models import Subscriber, SubscriberStatus, Subscription, SubscriptionStatus
from app.readers import preferences
from tests.support.factories import make_group, make_list, make_subscriber, make_subscribers


def emails(f: SubscriberFilter, **options) -> list[str]:
    return [s.email for s in search(f, **options).rows]


def test_address_prefix_finds_only_addresses_that_start_with_it(app):
    partners = make_list()
    for address in ["ann@example.org", "anna@example.org", "annex@x.org", "bob@example.org"]:
        make_subscriber(address, lists=[partners])
    assert emails(SubscriberFilter(query="ann")) == [
        "ann@example.org",
        "anna@example.org",
        "annex@x.org",
    ]
    assert emails(SubscriberFilter(query="anna@")) == ["anna@example.org"]
    assert emails(SubscriberFilter.from_args({"q": "  ANN@ "})) == ["ann@example.org"]
    assert emails(SubscriberFilter(query="zed")) == []


def test_name_prefix_matches_as_typed_or_capitalised_and_orders_by_name(app):
    partners = make_list()
    make_subscriber("c@example.org", name="Olena Kovalenko", lists=[partners])
    make_subscriber("a@example.org", name="Oleksandr", lists=[partners])
    make_subscriber("b@example.org", name="olga", lists=[partners])
    make_subscriber("d@example.org", name="Petro", lists=[partners])
    found = search(SubscriberFilter(query="ole", by="name")).rows
    assert [s.name for s in found] == ["Oleksandr", "Olena Kovalenko"]
    found = search(SubscriberFilter(query="ol", by="name")).rows
    assert [s.name for s in found] == ["Oleksandr", "Olena Kovalenko", "olga"]


def test_each_filter_narrows_the_search(app):
    partners, other = make_list(), make_list()
    kyiv, lviv = make_group("Kyiv aid", "UA"), make_group("Lviv aid", "PL")
    make_subscriber("uk@example.org", language="uk", group=kyiv, lists=[partners])
    make_subscriber("pt@example.org", language="pt-BR", country="BR", lists=[other])
    make_subscriber("pl@example.org", language="pl", group=lviv, country="UA", lists=[partners])
    make_subscriber("en@example.org", lists=[other])
    db.session.get(
        Subscriber, subscribers.find("en@example.org").id
    ).status = SubscriberStatus.BOUNCED
    db.session.commit()
    assert emails(SubscriberFilter(list_id=partners.id)) == ["pl@example.org", "uk@example.org"]
    assert emails(SubscriberFilter(language="pt")) == ["pt@example.org"]
    assert emails(SubscriberFilter(language="pt-BR")) == ["pt@example.org"]
    # Their own country, else their group's.
    assert emails(SubscriberFilter(country="UA")) == ["pl@example.org", "uk@example.org"]
    assert emails(SubscriberFilter(country="PL")) == []
    assert emails(SubscriberFilter(group_id=kyiv.id)) == ["uk@example.org"]
    assert emails(SubscriberFilter(group_id=0)) == ["en@example.org", "pt@example.org"]
    assert emails(SubscriberFilter(status="bounced")) == ["en@example.org"]
    both = SubscriberFilter(list_id=partners.id, language="uk", status="active")
    assert emails(both) == ["uk@example.org"]


def test_the_list_filter_leaves_out_who_unsubscribed(app):
    partners = make_list()
    left = make_subscriber("left@example.org", lists=[partners])
    make_subscriber("stays@example.org", lists=[partners])
    subscription = db.session.query(Subscription).filter_by(subscriber_id=left.id).one()
    subscription.status = SubscriptionStatus.UNSUBSCRIBED
    db.session.commit()
    assert emails(SubscriberFilter(list_id=partners.id)) == ["stays@example.org"]


@pytest.mark.parametrize("by", ["email", "name"])
def test_keyset_pages_have_no_overlap_or_gap_and_survive_inserts(app, by):
    partners = make_list()
    make_subscribers(23, lists=[partners])
    db.session.execute(update(Subscriber).values(name=Subscriber.email))
    db.session.commit()
    for n in range(7):  # equal names: the id breaks the tie
        make_subscriber(f"same{n}@example.org", name="Same", lists=[partners])
    f = SubscriberFilter(by=by)
    seen: list[int] = []
    page = search(f, limit=10)
    seen += [s.id for s in page.rows]
    make_subscriber("aaa-new@example.org", name="AAA new", lists=[partners])  # before the cursor
    while page.after:
        page = search(f, after=page.after, limit=10)
        seen += [s.id for s in page.rows]
    everyone = db.session.query(Subscriber).filter(Subscriber.email != "aaa-new@example.org")
    assert sorted(seen) == sorted(s.id for s in everyone)  # nobody twice, nobody missed
    assert len(seen) == 30


def test_erased_people_are_never_found(app):
    partners = make_list()
    gone = make_subscriber("gone@example.org", lists=[partners])
    make_subscriber("here@example.org", lists=[partners])
    from app.tokens import tokens

    preferences.erase(tokens().preferences(gone.uid))
    assert emails(SubscriberFilter()) == ["here@example.org"]
    assert subscribers.ERASED_DOMAIN == preferences.ERASED_DOMAIN


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"status": "sleeping"}, "'sleeping' is not one of active, blocklisted"),
        ({"country": "Ukraine"}, "is not a two-letter country code"),
        ({"language": "english!"}, "is not a language tag"),
        ({"list": "999999"}, "there is no list with id 999999"),
        ({"group": "x"}, "'x' is not a group id"),
        ({"by": "phone"}, "search by 'email' or 'name'"),
    ],
)
def test_bad_filters_are_refused_clearly(app, args, problem):
    with pytest.raises(InvalidInput, match=problem):
        SubscriberFilter.from_args(args)


def test_a_bad_cursor_is_refused(app):
    with pytest.raises(InvalidInput, match="is not a page cursor"):
        search(SubscriberFilter(by="name"), after="nonsense")


def test_totals_are_capped_cached_and_dropped_by_our_own_writes(app, monkeypatch):
    partners = make_list()
    make_subscribers(12, lists=[partners])
    monkeypatch.setattr(counts, "CAP", 10)
    total = counts.total(SubscriberFilter())
    assert (total.n, total.capped, str(total)) == (10, True, "more than 10")
    assert counts.list_sizes() == {partners.id: 12}
    make_subscribers(3, lists=[partners], prefix="late")  # not through a service that forgets
    assert counts.list_sizes() == {partners.id: 12}  # cached
    assert counts.exact(SubscriberFilter()) == 15  # confirmations count now
    counts.invalidate()
    assert counts.list_sizes() == {partners.id: 15}
    assert str(counts.total(SubscriberFilter(query="late"))) == "3"


def test_group_sizes_are_cached_and_dropped_when_a_group_changes(app):
    partners = make_list()
    kyiv = groups.create_group(GroupFields(name="Kyiv aid"))
    lviv = groups.create_group(GroupFields(name="Lviv aid"))
    make_subscriber("a@example.org", lists=[partners], group=kyiv)
    assert [(g.name, n) for g, n in groups.groups_with_counts()] == [
        ("Kyiv aid", 1),
        ("Lviv aid", 0),
    ]
    make_subscriber("b@example.org", lists=[partners], group=kyiv)  # not through a service
    assert counts.group_sizes() == {kyiv.id: 1}  # cached: no count on every page view
    groups.merge_groups(lviv.id, kyiv.id)
    assert [(g.name, n) for g, n in groups.groups_with_counts()] == [("Lviv aid", 2)]
