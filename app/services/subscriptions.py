"""Leaving lists: the one-click unsubscribe that every message links to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from app.extensions import db
from app.models import (
    Campaign,
    MailingList,
    OutboxKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from app.models.base import utcnow
from app.services import outbox
from app.services.tokens import InvalidToken, tokens


@dataclass(frozen=True)
class UnsubscribeTarget:
    """Who a token points at, and the lists it would leave."""

    subscriber: Subscriber
    lists: list[MailingList]


def resolve_unsubscribe(token: str) -> UnsubscribeTarget:
    """Return what an unsubscribe token means; raise ``InvalidToken`` when it means nothing."""
    subscriber_uid, campaign_uid = tokens().read_unsubscribe(token)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == subscriber_uid))
    campaign = db.session.scalar(select(Campaign).where(Campaign.uid == campaign_uid))
    if subscriber is None or campaign is None:
        raise InvalidToken()
    return UnsubscribeTarget(subscriber, list(campaign.lists))


def unsubscribe(token: str, goodbye: bool = False) -> UnsubscribeTarget:
    """End the subscriber's subscriptions to the lists the campaign was sent to. Idempotent.

    With ``goodbye`` (someone pressed the button on the page, not a mail client's RFC 8058
    one-click POST), a goodbye email is queued the first time only.
    """
    target = resolve_unsubscribe(token)
    ended = db.session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == target.subscriber.id,
            Subscription.list_id.in_([mailing_list.id for mailing_list in target.lists]),
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
        )
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
    ).rowcount
    if goodbye and ended:
        subscriber = target.subscriber
        outbox.queue_system_email(
            OutboxKind.GOODBYE,
            subscriber.email,
            subscriber.language,
            {"lists": ", ".join(m.name for m in target.lists), "name": subscriber.name or ""},
        )
    db.session.commit()
    return target
