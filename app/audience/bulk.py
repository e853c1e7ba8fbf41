"""Bulk actions on a selection of subscribers: the ids checked on a page, or every subscriber
passing a filter. Each action is set-based SQL (``… WHERE id IN (SELECT … filter)``), never
rows loaded into Python, and one commit.

Deleting: a subscriber with no ledger rows is deleted (their subscriptions go with them;
their reports keep the group and lose the author). One who was ever in a campaign's ledger
is anonymised instead, like an erasure but without suppressing the address: the row stays
as ``<uid>@erased.invalid``, blocklisted, with no name, country, group, attributes or
subscriptions, so campaign counts and delivery history still add up, a running campaign
skips them, and the address can be added again later. Use "blocklist" to keep an address
from ever being mailed again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Select, delete, exists, func, literal, select, update

from app.audience import counts
from app.audience.fields import ERASED_DOMAIN
from app.audience.filters import SubscriberFilter, matching
from app.audience.subscribers import anonymised_values
from app.database import insert_or_ignore, run_counted
from app.errors import Malformed, Required, TooMany, member_of
from app.extensions import db
from app.languages import normalize_tag
from app.models import (
    Delivery,
    MailingList,
    OutboxKind,
    OutboxMessage,
    Report,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from app.models.base import utcnow

MAX_IDS = 1000
NEW_LANGUAGE = "give the new language, such as 'uk' or 'pt-BR'"
DELETED_MARK = "deleted:"  # begins the email_hash of a deleted subscriber's anonymous row


class BulkAction(enum.StrEnum):
    ADD_TO_LIST = "add_to_list"
    REMOVE_FROM_LIST = "remove_from_list"
    CHANGE_LANGUAGE = "change_language"
    BLOCKLIST = "blocklist"
    DELETE = "delete"


DESTRUCTIVE = {BulkAction.BLOCKLIST, BulkAction.DELETE}


@dataclass(frozen=True)
class Selection:
    """Either the ids checked on a page, or (``ids`` empty) everyone passing ``filter``."""

    ids: tuple[int, ...] = ()
    filter: SubscriberFilter | None = None

    def __post_init__(self) -> None:
        if not self.ids and self.filter is None:
            raise Required("ids", message="choose at least one subscriber, or the whole filter")
        if len(self.ids) > MAX_IDS:
            raise TooMany(
                "ids",
                "subscribers",
                MAX_IDS,
                message=f"choose at most {MAX_IDS} subscribers at once",
            )

    def ids_query(self) -> Select[int]:
        """SELECT of the chosen subscribers' ids (erased rows never)."""
        if self.ids:
            return select(Subscriber.id).where(
                Subscriber.id.in_(self.ids), ~Subscriber.email.endswith(f"@{ERASED_DOMAIN}")
            )
        assert self.filter is not None
        return select(Subscriber.id).where(matching(self.filter))

    def count(self) -> int:
        """How many subscribers the selection holds right now."""
        return db.session.execute(
            select(func.count()).select_from(self.ids_query().subquery())
        ).scalar_one()


@dataclass(frozen=True)
class BulkTarget:
    """What a bulk action does and to what: the list it adds to or removes from, the
    language it gives. Built with ``of`` from what was typed; it holds nothing an action does
    not use, and it is never read from the filter (which says who, not what)."""

    action: BulkAction
    list_id: int | None = None
    language: str = ""

    @classmethod
    def of(
        cls, action: BulkAction | str, *, list_id: int | str | None = None, language: str = ""
    ) -> BulkTarget:
        """Check a target as typed; raise ``InvalidInput`` saying what is missing or wrong.
        Fields the action does not use are dropped (a language typed before choosing "add
        to list" changes nothing)."""
        action = member_of(BulkAction, action, "action", message=f"{action!r} is not a bulk action")
        if action in LIST_ACTIONS:
            return cls(action, list_id=_list(_list_id(list_id)).id)
        if action == BulkAction.CHANGE_LANGUAGE:
            if not (language or "").strip():
                raise Required("language", message=NEW_LANGUAGE)
            return cls(action, language=normalize_tag(language))
        return cls(action)

    def list_name(self) -> str:
        """The name of the target list ("" for an action on no list)."""
        found = db.session.get(MailingList, self.list_id) if self.list_id else None
        return found.name if found else ""


LIST_ACTIONS = {BulkAction.ADD_TO_LIST, BulkAction.REMOVE_FROM_LIST}


def _list_id(value: int | str | None) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Malformed("list", value, "a list id") from None


def apply(target: BulkTarget, selection: Selection) -> int | Deleted:
    """Run one bulk action on a selection (the panel's entry point); return what it returns.

    ``selection`` says who (checked ids, or a filter); ``target`` says what. Two typed
    values, so a filter's list can never stand in for the list an action names."""
    if target.action == BulkAction.ADD_TO_LIST:
        return add_to_list(selection, target.list_id or 0)
    if target.action == BulkAction.REMOVE_FROM_LIST:
        return remove_from_list(selection, target.list_id or 0)
    if target.action == BulkAction.CHANGE_LANGUAGE:
        return change_language(selection, target.language)
    if target.action == BulkAction.BLOCKLIST:
        return blocklist(selection)
    return delete_subscribers(selection)


def _list(list_id: int) -> MailingList:
    found = db.session.get(MailingList, list_id) if list_id else None
    if found is None:
        raise Required("list", message="choose a list")
    return found


def _done(n: int) -> int:
    db.session.commit()
    counts.invalidate()
    return n


def add_to_list(selection: Selection, list_id: int) -> int:
    """Subscribe the selection, confirmed, to a list; return how many were added.

    Insert-or-ignore: whoever is on the list already, or left it, keeps their subscription
    as it is (an unsubscribe is never undone by a bulk action).
    """
    mailing_list, now = _list(list_id), utcnow()
    before = _on_list(mailing_list.id)
    rows = select(
        Subscriber.id,
        literal(mailing_list.id),
        literal(SubscriptionStatus.CONFIRMED.value),
        literal(now, type_=Subscription.created_at.type),
        literal(now, type_=Subscription.confirmed_at.type),
    ).where(Subscriber.id.in_(selection.ids_query()))
    columns = ["subscriber_id", "list_id", "status", "created_at", "confirmed_at"]
    db.session.execute(insert_or_ignore(Subscription.__table__).from_select(columns, rows))
    # Counted, not rowcount: psycopg reports -1 for INSERT … SELECT.
    return _done(_on_list(mailing_list.id) - before)


def _on_list(list_id: int) -> int:
    return db.session.execute(
        select(func.count()).select_from(Subscription).where(Subscription.list_id == list_id)
    ).scalar_one()


def remove_from_list(selection: Selection, list_id: int) -> int:
    """Unsubscribe the selection from a list (the rows stay, with the time); return how many."""
    mailing_list = _list(list_id)
    changed = run_counted(
        update(Subscription)
        .where(
            Subscription.list_id == mailing_list.id,
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
            Subscription.subscriber_id.in_(selection.ids_query()),
        )
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _done(changed)


def change_language(selection: Selection, language: str) -> int:
    """Give the selection a language tag; return how many subscribers changed."""
    if not language.strip():
        raise Required("language", message=NEW_LANGUAGE)
    tag = normalize_tag(language)
    changed = run_counted(
        update(Subscriber)
        .where(Subscriber.id.in_(selection.ids_query()), Subscriber.language != tag)
        .values(language=tag)
        .execution_options(synchronize_session=False)
    )
    return _done(changed)


def blocklist(selection: Selection, note: str = "blocklisted by an organiser") -> int:
    """Blocklist the selection and suppress their addresses' hashes; return how many changed.

    The hashes are suppressed first, while the filter still sees the rows as they were.
    """
    hashes = select(
        Subscriber.email_hash,
        literal(SuppressionReason.MANUAL.value),
        literal(note),
        literal(utcnow(), type_=Suppression.created_at.type),
    ).where(Subscriber.id.in_(selection.ids_query()))
    db.session.execute(
        insert_or_ignore(Suppression.__table__).from_select(
            ["email_hash", "reason", "note", "created_at"], hashes
        )
    )
    changed = run_counted(
        update(Subscriber)
        .where(
            Subscriber.id.in_(selection.ids_query()),
            Subscriber.status != SubscriberStatus.BLOCKLISTED,
        )
        .values(status=SubscriberStatus.BLOCKLISTED)
        .execution_options(synchronize_session=False)
    )
    return _done(changed)


@dataclass(frozen=True)
class Deleted:
    """What a delete did: rows removed, and rows kept anonymous for the ledger's sake."""

    deleted: int
    anonymised: int


def delete_subscribers(selection: Selection) -> Deleted:
    """Delete the selection; whoever is in a campaign's ledger is anonymised instead."""
    chosen = selection.ids_query().scalar_subquery()
    in_ledger = exists().where(Delivery.subscriber_id == Subscriber.id)
    anonymous = select(Subscriber.id).where(Subscriber.id.in_(chosen), in_ledger)
    # Their system emails (confirm, goodbye) hold the address and the name: they go too.
    db.session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.kind != OutboxKind.TEST,
            OutboxMessage.to_address.in_(select(Subscriber.email).where(Subscriber.id.in_(chosen))),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Report)
        .where(Report.subscriber_id.in_(anonymous))
        .values(subscriber_id=None)
        .execution_options(synchronize_session=False)
    )
    anonymised = run_counted(
        update(Subscriber)
        .where(Subscriber.id.in_(anonymous.scalar_subquery()))
        .values(**anonymised_values(DELETED_MARK + Subscriber.uid))
        .execution_options(synchronize_session=False)
    )
    # After the update: the filter may name a list, so its subscriptions had to stay till now.
    db.session.execute(
        delete(Subscription)
        .where(
            Subscription.subscriber_id.in_(
                # Anonymised rows are blocklisted: the status index finds the few.
                select(Subscriber.id).where(
                    Subscriber.status == SubscriberStatus.BLOCKLISTED,
                    Subscriber.email_hash >= DELETED_MARK,
                    Subscriber.email_hash < "deleted;",
                )
            )
        )
        .execution_options(synchronize_session=False)
    )
    # The anonymised rows no longer pass any filter, and they are in the ledger anyway.
    deleted = run_counted(
        delete(Subscriber)
        .where(Subscriber.id.in_(selection.ids_query().scalar_subquery()), ~in_ledger)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    return Deleted(_done(deleted), anonymised)
