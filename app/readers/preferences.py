"""The preference centre: a subscriber's own page, reached from every message, no login.

Language, name and lists can change; they can leave everything, download what is kept
about them, or be erased (personal data removed, the address kept only as a keyed hash on
the suppression list so it is never mailed again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from app.audience import lists as lists_service
from app.audience import subscriptions
from app.audience.fields import ERASED_DOMAIN, clean_name
from app.audience.subscribers import anonymised_values
from app.audience.suppressions import suppress_hash
from app.errors import InvalidInput, NoSuch
from app.extensions import db
from app.languages import normalize_tag
from app.messages import outbox
from app.models import (
    Campaign,
    Delivery,
    ListVisibility,
    MailingList,
    Report,
    SignupRequest,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    list_names,
)
from app.models.base import utcnow
from app.tokens import InvalidToken, hasher, tokens


@dataclass(frozen=True)
class ListChoice:
    mailing_list: MailingList
    subscribed: bool
    name: str  # the list's name and description in the subscriber's language
    description: str


def resolve(token: str) -> Subscriber:
    """Return the subscriber a preference link names; raise ``InvalidToken`` otherwise."""
    uid = tokens().read_preferences(token)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == uid))
    if subscriber is None or subscriber.email.endswith("@" + ERASED_DOMAIN):
        raise InvalidToken()
    return subscriber


def choices(subscriber: Subscriber) -> list[ListChoice]:
    """The lists they may choose: those they are (or were) on, and every public list."""
    theirs = {
        s.list_id: s.status
        for s in db.session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber.id)
        )
    }
    lists = db.session.scalars(
        select(MailingList)
        .where((MailingList.visibility == ListVisibility.PUBLIC) | MailingList.id.in_(list(theirs)))
        .order_by(MailingList.name)
    )
    result = []
    for m in lists:
        wording = m.wording(subscriber.language)
        confirmed = theirs.get(m.id) == SubscriptionStatus.CONFIRMED
        result.append(ListChoice(m, confirmed, wording.name, wording.description))
    return result


def update_preferences(token: str, *, name: str, language: str, list_ids: list[int]) -> Subscriber:
    """Save name, language and the lists they want (the link proves the address is theirs)."""
    subscriber = resolve(token)
    try:
        # Their own tag, stored before tags were checked, may be kept as it is.
        keep = language.strip() == subscriber.language
        language = normalize_tag(language, registered=not keep)
    except InvalidInput:
        raise InvalidInput(_("Choose a language from the list."), "language") from None
    allowed = {choice.mailing_list.id: choice for choice in choices(subscriber)}
    wanted = set(list_ids)
    if unknown := wanted - set(allowed):
        raise NoSuch(
            "lists", "list", min(unknown), message=_("One of the chosen lists does not exist.")
        )
    subscriber.name = clean_name(name)
    subscriber.language = language
    now = utcnow()
    existing = {
        s.list_id: s
        for s in db.session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber.id)
        )
    }
    for list_id in allowed:
        row = existing.get(list_id)
        if list_id in wanted and (row is None or row.status != SubscriptionStatus.CONFIRMED):
            if row is None:
                row = Subscription(subscriber_id=subscriber.id, list_id=list_id)
                db.session.add(row)
            row.status, row.confirmed_at, row.unsubscribed_at = (
                SubscriptionStatus.CONFIRMED,
                now,
                None,
            )
        elif (
            list_id not in wanted
            and row is not None
            and row.status != SubscriptionStatus.UNSUBSCRIBED
        ):
            row.status, row.unsubscribed_at = SubscriptionStatus.UNSUBSCRIBED, now
    db.session.commit()
    return subscriber


def leave_everything(token: str) -> Subscriber:
    """End every subscription; one goodbye the first time."""
    subscriber = resolve(token)
    list_language = lists_service.subscriber_language(subscriber.id)
    left = db.session.scalars(
        select(MailingList)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
        )
        .order_by(MailingList.name)
    ).all()
    if left:
        db.session.execute(
            update(Subscription)
            .where(
                Subscription.subscriber_id == subscriber.id,
                Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
            )
            .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
        )
        names = list_names(left, subscriber.language)
        subscriptions.queue_goodbye(subscriber, names, list_language)
    db.session.commit()
    return subscriber


def export_data(token: str) -> dict[str, Any]:
    """Everything kept about them, as plain JSON-ready data."""
    subscriber = resolve(token)
    subscriptions = db.session.execute(
        select(MailingList.name, Subscription)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.subscriber_id == subscriber.id)
        .order_by(MailingList.name)
    ).all()
    deliveries = db.session.execute(
        select(Campaign.name, Delivery)
        .join(Delivery, Delivery.campaign_id == Campaign.id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(Delivery.id)
    ).all()
    reports = db.session.scalars(
        select(Report).where(Report.subscriber_id == subscriber.id).order_by(Report.id)
    ).all()
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "country": subscriber.country,
        "group": subscriber.group.name if subscriber.group else None,
        "status": subscriber.status.value,
        "attributes": subscriber.attributes or {},
        "consent": {
            "source": subscriber.consent_source,
            "given_at": _iso(subscriber.consent_at),
            "confirmed_at": _iso(subscriber.confirmed_at),
        },
        "created_at": _iso(subscriber.created_at),
        "subscriptions": [
            {
                "list": name,
                "status": s.status.value,
                "since": _iso(s.created_at),
                "confirmed_at": _iso(s.confirmed_at),
                "unsubscribed_at": _iso(s.unsubscribed_at),
            }
            for name, s in subscriptions
        ],
        "messages": [
            {
                "campaign": name,
                "language": d.language,
                "status": d.status.value,
                "first_attempt_at": _iso(d.first_attempt_at),
            }
            for name, d in deliveries
        ],
        "reports": [
            {"campaign_id": r.campaign_id, "title": r.title, "sent_at": _iso(r.created_at)}
            for r in reports
        ],
    }


def erase(token: str) -> None:
    """Remove their personal data for good; keep the address's keyed hash suppressed.

    The row stays (anonymised) so campaign counts still add up; its reports lose their
    author; their system emails (sent or not) and waiting sign-ups are deleted; the token
    stops working.
    """
    subscriber = resolve(token)
    outbox.forget_address(subscriber.email)
    db.session.execute(delete(SignupRequest).where(SignupRequest.email == subscriber.email))
    suppress_hash(
        db.session.connection(),
        subscriber.email_hash,
        SuppressionReason.ERASURE,
        "erased at their request",
    )
    placeholder = f"{subscriber.uid}@{ERASED_DOMAIN}"
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id)
        .values(**anonymised_values(hasher().email_hash(placeholder)))
    )
    db.session.execute(
        update(Subscription)
        .where(Subscription.subscriber_id == subscriber.id)
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
    )
    db.session.execute(
        update(Report).where(Report.subscriber_id == subscriber.id).values(subscriber_id=None)
    )
    db.session.commit()
    db.session.expire(subscriber)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
