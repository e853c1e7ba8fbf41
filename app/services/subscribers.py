"""Subscribers and their subscriptions, as organisers manage them by hand."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from app.errors import InvalidInput, NotFound
from app.extensions import db
from app.languages import normalize_tag
from app.models import (
    Group,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from app.models.base import utcnow
from app.services.tokens import tokens

MAX_NAME = 200


def normalize_email(email: str) -> str:
    """Return the address as stored (IDNA domain, lowercased); raise if it is not valid."""
    try:
        valid = validate_email(email.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{email!r} is not a valid address: {exc}", "email") from None
    return (valid.ascii_email or valid.normalized).lower()


def clean_name(name: str) -> str:
    """Return a one-line name: no control characters, at most 200 characters."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"the name is longer than {MAX_NAME} characters", "name")
    return cleaned


def clean_country(country: str) -> str:
    """Return an ISO 3166 alpha-2 code in capitals, or raise a clear error."""
    code = country.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{country!r} is not a two-letter country code such as UA", "country")
    return code


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
    now = utcnow()
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(
            email=address,
            email_hash=tokens().email_hash(address),
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
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "group": subscriber.group.name if subscriber.group else None,
        "status": subscriber.status.value,
        "created_at": subscriber.created_at.isoformat(),
        "subscriptions": [{"list": slug, "status": status.value} for slug, status in rows],
    }
