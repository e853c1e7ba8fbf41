"""A fresh preference link, on request: for readers whose link has expired.

Preference and report-back links stop working ``tokens.LINK_LIFETIME_DAYS`` after the mail
that carried them. A reader then gives their address on a public form, which answers the
same page, after the same work, for every address: it stores the request and nothing more.
The worker applies it: an active subscriber who confirmed their address, is confirmed on a
list, and whose address is neither suppressed nor at a blocked domain, gets a system email
with a new link, in their language, at most once a day. Everyone else gets nothing, and the
page never tells.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, insert, select

from app.addresses import normalize_email
from app.audience import lists, suppressions
from app.database import claim_each
from app.extensions import db
from app.messages import outbox
from app.models import (
    LinkRequest,
    MailingList,
    OutboxKind,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    list_names,
)
from app.models.base import utcnow
from app.tokens import HashKeyMismatch, hasher, tokens

log = logging.getLogger("tocsin")

REQUEST_BATCH = 200  # requests applied per dispatcher tick
ONE_A_DAY = timedelta(days=1)


def request_link(email: str) -> None:
    """Store a request for a fresh link and commit. Only the address's form is checked
    (``InvalidInput`` on field ``email``); whoever it belongs to, this is one INSERT."""
    address = normalize_email(email)
    db.session.execute(insert(LinkRequest).values(email=address, created_at=utcnow()))
    db.session.commit()


def process_requests(limit: int = REQUEST_BATCH) -> int:
    """Apply waiting requests, oldest first; return how many fresh links were queued.

    A request is claimed by deleting its row in the transaction that applies it, as sign-up
    requests are. One that fails is logged and dropped (the reader may ask again). While
    the hash key is wrong, requests wait: a suppressed address would not be recognised.
    """
    try:
        hasher()
    except HashKeyMismatch:
        db.session.rollback()
        return 0
    table = LinkRequest.__table__
    queued = 0
    for request in claim_each(table, limit):
        try:
            queued += apply_request(request.email)
            db.session.commit()
        except Exception:  # noqa: BLE001 - one bad request must not stop the others
            db.session.rollback()
            log.exception("fresh link request %s failed; dropped", request.id)
            db.session.execute(delete(table).where(table.c.id == request.id))
            db.session.commit()
    return queued


def apply_request(address: str) -> bool:
    """Queue a fresh preference link to ``address`` if it is a subscriber's who may have
    one; return whether one was queued. The caller commits."""
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    if (
        subscriber is None
        or subscriber.status != SubscriberStatus.ACTIVE
        or subscriber.confirmed_at is None  # never confirmed: the address may not be theirs
        or suppressions.is_blocked(address)
    ):
        return False
    recent = db.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.kind == OutboxKind.FRESH_LINK,
            OutboxMessage.to_address == address,
            OutboxMessage.created_at > utcnow() - ONE_A_DAY,
        )
    )
    if recent is not None:
        return False
    confirmed = db.session.scalars(
        select(MailingList)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
        .order_by(MailingList.name)
    ).all()
    if not confirmed:
        return False  # on no list: the sign-up form is the way back
    names = list_names(confirmed, subscriber.language)
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    outbox.queue_system_email(
        OutboxKind.FRESH_LINK,
        address,
        subscriber.language,
        {
            "name": subscriber.name or "",
            "lists": ", ".join(names),
            "preferences_url": f"{base}/p/{tokens().preferences(subscriber.uid)}",
        },
        list_language=lists.subscriber_language(subscriber.id),
    )
    return True
