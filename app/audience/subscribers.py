"""Subscribers and their subscriptions, as organisers manage them by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select, true, union_all
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from app import search_index
from app.addresses import normalize_email
from app.audience import suppressions
from app.audience.fields import ERASED_DOMAIN, clean_country, clean_name
from app.audience.filters import (
    SubscriberFilter,
    fields_match,
    groups_named,
    matching,
    name_spellings,
    prefix_range,
)
from app.errors import Conflict, InvalidInput, Malformed, NotFound
from app.extensions import db
from app.languages import normalize_tag
from app.models import (
    Group,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from app.models.base import utcnow
from app.tokens import hasher


def anonymised_values(email_hash: Any) -> dict[str, Any]:
    """Column values that strip a subscriber's row of personal data (an erasure, or a
    delete that must keep the ledger whole): the address becomes ``<uid>@erased.invalid``."""
    return {
        "email": Subscriber.uid + f"@{ERASED_DOMAIN}",
        "email_hash": email_hash,
        "name": "",
        "country": None,
        "group_id": None,
        "attributes": {},
        "consent_source": "",
        "status": SubscriberStatus.BLOCKLISTED,
    }


def refuse_blocked_domain(address: str) -> None:
    """Raise a clear error when the address's domain is on the blocked list."""
    if suppressions.is_blocked_domain(address):
        raise InvalidInput(
            f"{address} is at a blocked domain ({suppressions.domain_of(address)})", "email"
        )


def find(email: str) -> Subscriber | None:
    """Return the subscriber with this address, if any."""
    return db.session.scalar(select(Subscriber).where(Subscriber.email == normalize_email(email)))


def add_subscriber(
    email: str,
    *,
    lists: list[MailingList],
    language: str = "en",
    name: str = "",
    group: Group | None = None,
    country: str | None = None,
    source: str = "added by an organiser",
) -> Subscriber:
    """Add (or update) a subscriber and subscribe them, confirmed, to the given lists.

    Organisers vouch for consent when they add someone by hand; public sign-ups go through
    double opt-in instead. An unsubscribed subscription is not revived by a re-add.
    """
    address = normalize_email(email)
    language = normalize_tag(language)
    name = clean_name(name)
    refuse_blocked_domain(address)
    now = utcnow()
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(
            email=address,
            email_hash=hasher().email_hash(address),
            consent_source=source,
            consent_at=now,
            confirmed_at=now,
        )
        db.session.add(subscriber)
    subscriber.language = language
    if name:
        subscriber.name = name
    if group is not None:
        subscriber.group = group
    if country:
        subscriber.country = clean_country(country)
    db.session.flush()
    existing = {
        s.list_id
        for s in db.session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber.id)
        )
    }
    for mailing_list in lists:
        if mailing_list.id not in existing:
            db.session.add(
                Subscription(
                    subscriber_id=subscriber.id,
                    list_id=mailing_list.id,
                    status=SubscriptionStatus.CONFIRMED,
                    confirmed_at=now,
                )
            )
    db.session.commit()
    return subscriber


class AlreadySubscriber(Conflict):
    """The address is a subscriber already; ``subscriber`` is who it is."""

    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__(f"{subscriber.email} is already a subscriber")
        self.subscriber = subscriber


def add_new_subscriber(email: str, **details: Any) -> Subscriber:
    """Add someone by hand who is not a subscriber yet (``details`` as for ``add_subscriber``).

    An address that is already there is refused with ``AlreadySubscriber`` and nothing is
    changed: the organiser opens that subscriber's page to edit them."""
    existing = find(email)
    if existing is not None:
        raise AlreadySubscriber(existing)
    return add_subscriber(email, **details)


def describe(email: str) -> dict[str, Any]:
    """Return a subscriber as plain data, with every subscription's status."""
    subscriber = find(email)
    if subscriber is None:
        raise NotFound(f"no subscriber with address {email!r}")
    rows = db.session.execute(
        select(MailingList.slug, Subscription.status)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.subscriber_id == subscriber.id)
        .order_by(MailingList.slug)
    )
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "group": subscriber.group.name if subscriber.group else None,
        "status": subscriber.status.value,
        "created_at": subscriber.created_at.isoformat(),
        "subscriptions": [{"list": slug, "status": status.value} for slug, status in rows],
    }


# --- Search: one filter shape for the page, its count and the bulk actions -------------------

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """One page of a search and the cursor of the next (``None`` on the last page)."""

    rows: list[Subscriber]
    after: str | None


def search(f: SubscriberFilter, after: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """Return a page of subscribers passing the filter, after a keyset cursor; never OFFSET.

    By address: ORDER BY email, the cursor is the last address. By name or group, with one
    or two letters (or none): ORDER BY (name, id), the cursor is ``id:name``. With three or
    more, found anywhere in names: in the order they were added, the cursor is the last id
    (such matches are spread over the whole name order, and walking it for 50 of them
    takes seconds at a million rows; in id order the index stops at a page). Rows added
    meanwhile never shift the next page.
    """
    if f.by == "name" and len(f.query) >= search_index.SHORTEST:
        return _inside_names(f, after, limit)
    if f.by == "name":
        statement = _by_name(f, after, limit)
    else:
        statement = select(Subscriber).where(matching(f)).order_by(Subscriber.email).limit(limit)
        if after:
            statement = statement.where(Subscriber.email > after)
    rows = list(db.session.scalars(statement.options(selectinload(Subscriber.group))))
    if len(rows) < limit:
        return Page(rows, None)
    last = rows[-1]
    return Page(rows, f"{last.id}:{last.name}" if f.by == "name" else last.email)


def search_by_id(f: SubscriberFilter, after: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """Return a page of subscribers passing the filter in the order they were added; the
    cursor is the last id. For organisers who may not see addresses: a cursor that is an
    address (or a name) would show one, and an order by address would tell where a chosen
    address falls among them."""
    statement = select(Subscriber).where(matching(f)).order_by(Subscriber.id).limit(limit)
    if after:
        if not after.isdigit():
            raise Malformed("after", after, "a page cursor")
        statement = statement.where(Subscriber.id > int(after))
    rows = list(db.session.scalars(statement.options(selectinload(Subscriber.group))))
    return Page(rows, str(rows[-1].id) if len(rows) == limit else None)


def _inside_names(f: SubscriberFilter, after: str | None, limit: int) -> Page:
    """A page of subscribers whose name, or whose group's name, holds the query, in id order;
    the cursor is the last id. The name matches and the groups' members are each their own
    ordered branch, merged after: an OR of the two would keep either index from stopping at
    a page."""
    if after and not after.isdigit():
        raise Malformed("after", after, "a page cursor")
    last = int(after or 0)
    fields = fields_match(f)
    branches = [search_index.first_ids_containing(f.query, fields, last, limit)]
    if groups := groups_named(f.query):
        branches.append(
            select(Subscriber.id)
            .where(Subscriber.group_id.in_(groups), fields, Subscriber.id > last)
            .order_by(Subscriber.id)
            .limit(limit)
        )
    ids = union_all(*(select(b.subquery().c.id) for b in branches)).subquery()
    statement = (
        select(Subscriber)
        .where(Subscriber.id.in_(select(ids.c.id)))
        .order_by(Subscriber.id)
        .limit(limit)
        .options(selectinload(Subscriber.group))
    )
    rows = list(db.session.scalars(statement))
    return Page(rows, str(rows[-1].id) if len(rows) == limit else None)


def _by_name(f: SubscriberFilter, after: str | None, limit: int) -> Select[Subscriber]:
    """By name, each spelling of the prefix is its own ordered index range, and the members
    of the groups named so their own branch, merged after: one OR of two ranges makes
    PostgreSQL walk the whole name index (seconds at 1M rows)."""
    keyset: ColumnElement[bool] = true()
    if after:
        last_id, last_name = _name_cursor(after)
        keyset = or_(
            Subscriber.name > last_name,
            and_(Subscriber.name == last_name, Subscriber.id > last_id),
        )
    if f.query:
        branches = [prefix_range(Subscriber.name, v) for v in name_spellings(f.query)]
        if groups := groups_named(f.query):
            branches.append(Subscriber.group_id.in_(groups))
    else:
        branches = [true()]
    pages = [
        select(Subscriber.id)
        .where(branch, fields_match(f), keyset)
        .order_by(Subscriber.name, Subscriber.id)
        .limit(limit)
        .subquery()
        for branch in branches
    ]
    ids = union_all(*(select(page.c.id) for page in pages)).subquery()
    return (
        select(Subscriber)
        .where(Subscriber.id.in_(select(ids.c.id)))
        .order_by(Subscriber.name, Subscriber.id)
        .limit(limit)
    )


def _name_cursor(after: str) -> tuple[int, str]:
    number, _, name = after.partition(":")
    if not number.isdigit():
        raise Malformed("after", after, "a page cursor")
    return int(number), name
