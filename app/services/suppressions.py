"""The suppression list: addresses never to be mailed again, kept as keyed hashes."""

from __future__ import annotations

from sqlalchemy import select, update

from app.database import insert_or_ignore
from app.extensions import db
from app.models import Subscriber, SubscriberStatus, Suppression, SuppressionReason
from app.models.base import utcnow
from app.services.tokens import tokens


def add(email_hash: str, reason: SuppressionReason, note: str = "") -> None:
    """Suppress an address hash (idempotent, also between workers); the caller commits."""
    db.session.execute(
        insert_or_ignore(Suppression.__table__).values(
            email_hash=email_hash, reason=reason.value, note=note[:1000], created_at=utcnow()
        )
    )


def is_suppressed(email: str) -> bool:
    """Return whether an address is on the suppression list."""
    email_hash = tokens().email_hash(email)
    return (
        db.session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash))
        is not None
    )


def record_hard_bounce(subscriber_id: int, reply: str) -> None:
    """Mark a subscriber bounced and suppress their address; the caller commits."""
    email_hash = db.session.scalar(
        select(Subscriber.email_hash).where(Subscriber.id == subscriber_id)
    )
    if email_hash is None:
        return
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(status=SubscriberStatus.BOUNCED)
    )
    add(email_hash, SuppressionReason.BOUNCE, reply)
