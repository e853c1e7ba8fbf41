"""Subscriber search: prefixes, each filter, keyset pages, the capped cached total."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.audience import counts, groups, records, subscribers
from app.audience.fields import ERASED_DOMAIN
from app.audience.filters import SubscriberFilter
from app.audience.groups import GroupFields
from app.audience.subscribers import search
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


def names(f: SubscriberFilter) -> list[str]:
    return [s.name for s in search(f).rows]


def test_one_or_two_letters_find_names_that_start_with_them_in_name_order(app):
    partners = make_list()
    make_subscriber("c@example.org", name="Olena Kovalenko", lists=[partners])
    make_subscriber("a@example.org", name="Oleksandr", lists=[partners])
    make_subscriber("b@example.org", name="olga", lists=[partners])
    make_subscriber("d@example.org", name="Petro Sokol", lists=[partners])
    # By name.
    assert names(SubscriberFilter(query="ol", by="name")) == [
        "Oleksandr",
        "Olena Kovalenko",
        "olga",
    ]
    assert names(SubscriberFilter(query="O", by="name")) == ["Oleksandr", "Olena Kovalenko"]
    # And the members of groups whose name starts with them.
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    make_subscriber("e@example.org", name="Anna", group=kyiv, lists=[partners])
    assert names(SubscriberFilter(query="ky", by="name")) == ["Anna"]
    assert names(SubscriberFilter(query="An", by="name")) == ["Anna"]


def test_pages_of_a_search_inside_names_have_no_overlap_or_gap(app):
    partners = make_list()
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    for n in range(12):
        make_subscriber(f"k{n:02}@example.org", name=f"Olena Kyivska {n}", lists=[partners])
        make_subscriber(f"g{n:02}@example.org", name=f"Member {n}", group=kyiv, lists=[partners])
        make_subscriber(f"x{n:02}@example.org", name=f"Petro {n}", lists=[partners])
    f = SubscriberFilter(query="kyiv", by="name")
    seen: list[str] = []
    page = search(f, limit=5)
    seen += [s.email for s in page.rows]
    while page.after:
        page = search(f, after=page.after, limit=5)
        seen += [s.email for s in page.rows]
    assert len(seen) == len(set(seen)) == 24
    assert not [e for e in seen if e.startswith("x")]


def test_three_letters_or_more_find_any_part_of_a_name_or_of_a_group_name_in_any_case(app):
    partners = make_list()
    kyiv = make_group("Kyiv Solidarity Collective", "UA")
    make_subscriber("olena@example.org", name="Olena Kyivska", lists=[partners])
    make_subscriber("member@example.org", name="Petro", group=kyiv, lists=[partners])
    make_subscriber("ivan@example.org", name="Ivan Kovalenko", lists=[partners])
    make_subscriber("kyiv@example.org", name="", lists=[partners])  # the address is not a name
    make_subscriber("taras@example.org", name="ТАРАС Київський", lists=[partners])
    kyiv_people = ["olena@example.org", "member@example.org"]
    assert emails(SubscriberFilter(query="kyiv", by="name")) == kyiv_people
    assert emails(SubscriberFilter.from_args({"q": " KYIV ", "by": "name"})) == kyiv_people
    assert emails(SubscriberFilter(query="solidarity", by="name")) == ["member@example.org"]
    assert emails(SubscriberFilter(query="valen", by="name")) == ["ivan@example.org"]
    assert emails(SubscriberFilter(query="a Kyi", by="name")) == ["olena@example.org"]
    assert emails(SubscriberFilter(query="київ", by="name")) == ["taras@example.org"]
    assert emails(SubscriberFilter(query="тарас", by="name")) == ["taras@example.org"]
    # The address prefix still works, and only on addresses.
    assert emails(SubscriberFilter(query="kyiv")) == ["kyiv@example.org"]
    assert emails(SubscriberFilter(query="ol")) == ["olena@example.org"]
    # The count, the bulk actions and the export read the same filter.
    assert counts.exact(SubscriberFilter(query="kyiv", by="name")) == 2


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("50%", ["50% Club"]),
        ("0% C", ["50% Club"]),
        ("a_b", ["a_b Team"]),
        ("k\\n", ["back\\nslash"]),
        ('"qu', ['"quoted" Name']),
        ("%", []),  # one character: names that start with it
        ("_", []),
    ],
)
def test_search_characters_are_taken_literally(app, typed, found):
    partners = make_list()
    for n, name in enumerate(
        [
            "50% Club",
            "500 Club",
            "a_b Team",
            "axb Team",
            "back\\nslash",
            "backxnslash",
            '"quoted" Name',
        ]
    ):
        make_subscriber(f"p{n}@example.org", name=name, lists=[partners])
    assert sorted(names(SubscriberFilter(query=typed, by="name"))) == found


def test_the_name_index_follows_renames_and_deletes(app):
    partners = make_list()
    olena = make_subscriber("olena@example.org", name="Olena Kyivska", lists=[partners])
    records.update_subscriber(olena.id, **_profile(olena, name="Olena Lvivska"))
    assert emails(SubscriberFilter(query="kyiv", by="name")) == []
    assert emails(SubscriberFilter(query="lviv", by="name")) == ["olena@example.org"]
    db.session.delete(db.session.get(Subscriber, olena.id))
    db.session.commit()
    assert emails(SubscriberFilter(query="lviv", by="name")) == []


def _profile(subscriber: Subscriber, **changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "country": subscriber.country or "",
        "group_id": subscriber.group_id,
        "status": subscriber.status.value,
        "attributes": "",
        "list_ids": [],
    }
    return {**values, **changes}


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
    assert ERASED_DOMAIN == preferences.ERASED_DOMAIN


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
    with pytest.raises(InvalidInput, match="is not a page cursor"):
        search(SubscriberFilter(query="kyiv", by="name"), after="12:Olena")


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
