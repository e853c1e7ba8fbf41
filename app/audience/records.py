"""One subscriber's record as organisers edit it: fields, attributes, lists, and what they
received and sent back."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from app.addresses import normalize_email
from app.audience import counts, suppressions
from app.audience.fields import ERASED_DOMAIN, clean_country, clean_name
from app.audience.filters import STATUSES
from app.audience.subscribers import find, refuse_blocked_domain
from app.errors import InvalidInput, Malformed, NoSuch, NotFound, NotOneOf, Taken
from app.extensions import db
from app.languages import normalize_tag
from app.models import (
    Campaign,
    Delivery,
    Group,
    MailingList,
    Report,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from app.models.base import utcnow
from app.tokens import hasher


def get(subscriber_id: int) -> Subscriber:
    """Return a subscriber by id or raise ``NotFound`` (erased rows are not found)."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.email.endswith(f"@{ERASED_DOMAIN}"):
        raise NotFound(f"no subscriber with id {subscriber_id}")
    return subscriber


def update_subscriber(
    subscriber_id: int,
    *,
    email: str,
    name: str,
    language: str,
    country: str,
    group_id: int | None,
    status: str,
    attributes: str,
    list_ids: list[int],
) -> Subscriber:
    """Check every field, then change the subscriber and their lists in one commit.

    Lists not chosen any more are unsubscribed (the row stays, with its time); newly chosen
    ones, and ones the person had left, are confirmed (the organiser vouches: this is where
    someone who asked by mail to come back is put back); pending ones stay pending.
    Becoming active again is refused while the address is suppressed: remove the
    suppression first, with a reason.
    """
    subscriber = get(subscriber_id)
    values = _checked_fields(subscriber, email, name, language, country, group_id, status)
    values["attributes"] = parse_attributes(attributes)
    chosen = set(list_ids)
    known = set(db.session.scalars(select(MailingList.id).where(MailingList.id.in_(chosen))))
    if chosen - known:
        missing = min(chosen - known)
        raise NoSuch("lists", "list", missing, message=f"there is no list with id {missing}")
    for key, value in values.items():
        setattr(subscriber, key, value)
    _set_lists(subscriber.id, chosen)
    db.session.commit()
    counts.invalidate()
    return subscriber


def _checked_fields(
    subscriber: Subscriber,
    email: str,
    name: str,
    language: str,
    country: str,
    group_id: int | None,
    status: str,
) -> dict[str, Any]:
    address = normalize_email(email)
    values: dict[str, Any] = {"name": clean_name(name), "language": normalize_tag(language)}
    if address != subscriber.email:
        refuse_blocked_domain(address)
        if find(address) is not None:
            raise Taken(
                "email",
                "subscriber",
                address,
                message=f"another subscriber has the address {address}",
            )
        values.update(email=address, email_hash=hasher().email_hash(address))
    values["country"] = clean_country(country) if country.strip() else None
    if group_id and db.session.get(Group, group_id) is None:
        raise NoSuch("group", "group", group_id, message=f"there is no group with id {group_id}")
    values["group_id"] = group_id or None
    if status not in STATUSES:
        raise NotOneOf("status", status, STATUSES)
    values["status"] = SubscriberStatus(status)
    if values["status"] == SubscriberStatus.ACTIVE and suppressions.is_suppressed(address):
        raise InvalidInput(
            f"{address} is on the suppression list: remove it there (with a reason) first",
            "status",
        )
    return values


def parse_attributes(text: str) -> dict[str, Any]:
    """Parse the attributes field: a JSON object (empty text means no attributes)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the attributes are not valid JSON: {exc}", "attributes") from None
    if not isinstance(value, dict):
        raise Malformed(
            "attributes",
            value,
            "a JSON object",
            message='the attributes must be a JSON object such as {"city": "Lviv"}',
        )
    return value


def _set_lists(subscriber_id: int, chosen: set[int]) -> None:
    now = utcnow()
    current = {
        s.list_id: s
        for s in db.session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber_id)
        )
    }
    for list_id, subscription in current.items():
        if list_id not in chosen and subscription.status != SubscriptionStatus.UNSUBSCRIBED:
            subscription.status = SubscriptionStatus.UNSUBSCRIBED
            subscription.unsubscribed_at = now
        elif list_id in chosen and subscription.status == SubscriptionStatus.UNSUBSCRIBED:
            subscription.status = SubscriptionStatus.CONFIRMED
            subscription.confirmed_at = now
    for list_id in chosen - set(current):
        db.session.add(
            Subscription(
                subscriber_id=subscriber_id,
                list_id=list_id,
                status=SubscriptionStatus.CONFIRMED,
                confirmed_at=now,
            )
        )


def history(subscriber_id: int) -> dict[str, Any]:
    """What a subscriber received and sent back: ledger counts by status, the latest
    deliveries, and their reports."""
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.subscriber_id == subscriber_id)
            .group_by(Delivery.status)
        ).all()
    )
    latest = db.session.execute(
        select(Campaign.id, Campaign.name, Delivery.status, Delivery.language, Delivery.updated_at)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.id.desc())
        .limit(10)
    ).all()
    reports = db.session.scalars(
        select(Report).where(Report.subscriber_id == subscriber_id).order_by(Report.id.desc())
    ).all()
    return {
        "counts": {status.value: n for status, n in counts.items()},
        "latest": latest,
        "reports": reports,
    }


def current_list_ids(subscriber_id: int) -> list[int]:
    """The lists a subscriber is on (pending or confirmed)."""
    return list(
        db.session.scalars(
            select(Subscription.list_id).where(
                Subscription.subscriber_id == subscriber_id,
                Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
            )
        )
    )


def attributes_text(subscriber: Subscriber) -> str:
    """The attributes as the edit form shows them: indented JSON, any script as is."""
    return json.dumps(subscriber.attributes or {}, ensure_ascii=False, indent=1)
