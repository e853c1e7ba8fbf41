"""The one subscriber filter, as SQL: the panel's ``SubscriberFilter`` (search, list, language,
country, group, status) and a campaign's filters (languages, countries, groups), with the
rule they share for a subscriber's country: their own, else their group's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from app import search_index
from app.audience.fields import ERASED_DOMAIN, MAX_NAME, clean_country
from app.errors import Malformed, NoSuch, NotOneOf
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

STATUSES = tuple(s.value for s in SubscriberStatus)
NO_GROUP = 0  # the group filter's value for "in no group"


@dataclass(frozen=True)
class SubscriberFilter:
    """Which subscribers a page, a count or a bulk action is about (all fields optional).

    ``query`` is a prefix of the address (``by="email"``), or (``by="name"``) part of the
    subscriber's name or of their group's name, in any case: anywhere in it from three
    characters on, at the start for one or two (as typed or with a capital first letter),
    since no index finds one or two characters inside names (see ``app.search_index``).
    ``list_id`` means currently on the list (unconfirmed or confirmed); ``country`` is the
    subscriber's own, else their group's (``country_of``); ``language`` ``pt`` also
    takes ``pt-BR``; ``group_id`` 0 means in no group.
    """

    query: str = ""
    by: str = "email"
    list_id: int | None = None
    language: str = ""
    country: str = ""
    group_id: int | None = None
    status: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> SubscriberFilter:
        """Read and check a filter from URL or form fields; raise ``InvalidInput`` clearly."""
        by = args.get("by") or "email"
        if by not in ("email", "name"):
            raise NotOneOf(
                "by", by, ("email", "name"), message=f"search by 'email' or 'name', not {by!r}"
            )
        status = (args.get("status") or "").strip()
        if status and status not in STATUSES:
            raise NotOneOf("status", status, STATUSES)
        language = (args.get("language") or "").strip()
        country = (args.get("country") or "").strip()
        query = " ".join((args.get("q") or "").split())[:MAX_NAME]
        return cls(
            query=query.lower() if by == "email" else query,
            by=by,
            list_id=_optional_id(args.get("list"), "list", MailingList),
            # Any well-formed tag: what was stored before tags were checked must stay findable.
            language=normalize_tag(language, registered=False) if language else "",
            country=clean_country(country) if country else "",
            group_id=_optional_id(args.get("group"), "group", Group, allow_zero=True),
            status=status,
        )

    def to_args(self) -> dict[str, str | int]:
        """The filter as URL or hidden form fields (empty ones left out)."""
        args: dict[str, str | int | None] = {
            "q": self.query,
            "by": self.by if self.query and self.by != "email" else None,
            "list": self.list_id,
            "language": self.language,
            "country": self.country,
            "group": self.group_id,
            "status": self.status,
        }
        return {k: v for k, v in args.items() if v not in (None, "")}

    def is_empty(self) -> bool:
        """Whether the filter lets everyone through."""
        return not self.to_args()


def _optional_id(
    value: str | None, field: str, model: type, *, allow_zero: bool = False
) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise Malformed(field, value, f"a {field} id") from None
    if allow_zero and number == NO_GROUP:
        return number
    if db.session.get(model, number) is None:
        raise NoSuch(field, field, number, message=f"there is no {field} with id {number}")
    return number


def matching(f: SubscriberFilter) -> ColumnElement[bool]:
    """SQL condition on ``subscribers``: the subscriber passes the filter (erased rows never)."""
    if f.query:
        return and_(searched(f.query, f.by), fields_match(f))
    return fields_match(f)


def fields_match(f: SubscriberFilter) -> ColumnElement[bool]:
    """The filter's condition without the search prefix."""
    conditions: list[ColumnElement[bool]] = [~Subscriber.email.endswith(f"@{ERASED_DOMAIN}")]
    campaign_like: dict[str, list[Any]] = {
        "languages": [f.language] if f.language else [],
        "countries": [f.country] if f.country else [],
        "groups": [f.group_id] if f.group_id else [],
    }
    conditions.append(matches_filters(campaign_like))
    if f.group_id == NO_GROUP:
        conditions.append(Subscriber.group_id.is_(None))
    if f.status:
        conditions.append(Subscriber.status == SubscriberStatus(f.status))
    if f.list_id is not None:
        conditions.append(
            exists().where(
                Subscription.subscriber_id == Subscriber.id,
                Subscription.list_id == f.list_id,
                Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
            )
        )
    return and_(*conditions)


def searched(query: str, by: str) -> ColumnElement[bool]:
    """The search box: an address prefix as an index range (byte order: SQLite, and
    PostgreSQL with C collation), or part of the name or of the group's name."""
    if by == "email":
        return prefix_range(Subscriber.email, query)
    if len(query) >= search_index.SHORTEST:
        in_name = search_index.name_contains(query)
    else:
        in_name = or_(*(prefix_range(Subscriber.name, v) for v in name_spellings(query)))
    groups = groups_named(query)
    return or_(in_name, Subscriber.group_id.in_(groups)) if groups else in_name


def groups_named(query: str) -> list[int]:
    """Ids of the groups whose name holds ``query`` as the search box means it (anywhere
    from three characters, else at the start), in any case. Groups are organisations, a few
    hundred: their ids go into the query, so the subscribers' side stays an index lookup."""
    wanted = query.lower()
    rows = db.session.execute(select(Group.id, Group.name)).all()
    if len(query) >= search_index.SHORTEST:
        return [i for i, name in rows if wanted in name.lower()]
    return [i for i, name in rows if name.lower().startswith(wanted)]


def name_spellings(query: str) -> list[str]:
    """A name prefix as typed, and with a capital first letter."""
    return sorted({query, query[:1].upper() + query[1:]})


def prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


def matches_filters(filters: dict[str, list[Any]]) -> ColumnElement[bool]:
    """SQL condition: the subscriber passes a campaign's filters (languages, countries, groups).

    A language filter ``pt`` also takes ``pt-BR``; a subscriber without a country stands in
    their group's country. An empty or absent filter lets everyone through.
    """
    conditions: list[ColumnElement[bool]] = []
    if languages := filters.get("languages"):
        conditions.append(
            or_(
                Subscriber.language.in_(languages),
                *(Subscriber.language.startswith(f"{tag}-") for tag in languages),
            )
        )
    if countries := filters.get("countries"):
        # ``country_of`` in SQL, written so the groups are looked up once, not once a row.
        in_group_country = Subscriber.group_id.in_(
            select(Group.id).where(Group.country.in_(countries))
        )
        conditions.append(
            or_(
                Subscriber.country.in_(countries),
                and_(Subscriber.country.is_(None), in_group_country),
            )
        )
    if groups := filters.get("groups"):
        conditions.append(Subscriber.group_id.in_(groups))
    return and_(true(), *conditions)


@dataclass(frozen=True)
class Country:
    """The country a country filter sees for a subscriber, and where it comes from."""

    code: str
    from_group: bool


def country_of(subscriber: Subscriber) -> Country | None:
    """The subscriber's country as ``matches_filters`` reads it: their own, else (when
    they have none) their group's; ``None`` when neither is known. The panel shows this,
    so the Country column and the country filter agree."""
    if subscriber.country is not None:  # as in SQL: only a missing one stands aside
        return Country(subscriber.country, from_group=False) if subscriber.country else None
    if subscriber.group is not None and subscriber.group.country:
        return Country(subscriber.group.country, from_group=True)
    return None
