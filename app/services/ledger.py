"""The delivery ledger: the database, not the broker, decides what is left to send.

Rows move ``queued -> claimed -> sent | failed_temp | failed_perm | unknown | skipped``.
A claim takes a lease and counts the attempt; an expired lease returns the row to the
queue; a row handed to the broker but never claimed is handed out again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import (
    OPEN_DELIVERY_STATES,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Group,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    campaign_lists,
)
from app.models.base import utcnow
from app.services.composing import Recipient

MAX_BATCHES_PER_TICK = 50


@dataclass(frozen=True)
class Batch:
    """A contiguous range of ledger ids for one campaign, handed to one task."""

    campaign_id: int
    first_id: int
    last_id: int


@dataclass(frozen=True)
class Claimed:
    """A row this worker now holds the lease on."""

    delivery_id: int
    subscriber_id: int
    attempts: int


def _dialect_insert():  # noqa: ANN202 - dialect-specific Insert
    # Core table, not the ORM class: the ORM bulk path would not report a row count.
    table = Delivery.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def mailable_now(campaign_id: int):  # noqa: ANN201 - a SQL boolean clause
    """SQL condition: the subscriber is active, confirmed on a campaign list, not suppressed."""
    return and_(
        Subscriber.status == SubscriberStatus.ACTIVE,
        exists().where(
            Subscription.subscriber_id == Subscriber.id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            Subscription.list_id.in_(
                select(campaign_lists.c.list_id).where(campaign_lists.c.campaign_id == campaign_id)
            ),
        ),
        ~exists().where(Suppression.email_hash == Subscriber.email_hash),
    )


def insert_deliveries(campaign: Campaign) -> int:
    """Insert one queued row per mailable subscriber, set-based; the caller commits."""
    audience = (
        select(
            literal(campaign.id),
            Subscriber.id,
            literal(DeliveryStatus.QUEUED.value),
            literal(0),
            literal(utcnow(), type_=Delivery.created_at.type),
        )
        .where(mailable_now(campaign.id))
        .order_by(Subscriber.id)
    )
    statement = (
        _dialect_insert()
        .from_select(["campaign_id", "subscriber_id", "status", "attempts", "created_at"], audience)
        .on_conflict_do_nothing()
    )
    db.session.execute(statement)
    # Counted, not taken from rowcount: psycopg through SQLAlchemy reports -1 for INSERT…SELECT.
    return db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
    )


def dispatch(now: datetime | None = None) -> list[Batch]:
    """Sweep leases, requeue due retries, finish campaigns, and hand out new batches."""
    now = now or utcnow()
    config = current_app.config
    _sweep_expired_leases(now)
    _requeue_due_retries(now)
    batches: list[Batch] = []
    sending = db.session.scalars(
        select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    ).all()
    for campaign_id in sending:
        batches.extend(
            _hand_out(
                campaign_id,
                now,
                config["BATCH_SIZE"],
                now - timedelta(seconds=config["REDISPATCH_SECONDS"]),
            )
        )
        _finish_if_done(campaign_id, now)
    db.session.commit()
    return batches


def _sweep_expired_leases(now: datetime) -> None:
    db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.CLAIMED, Delivery.lease_until < now)
        .values(status=DeliveryStatus.QUEUED, lease_until=None, enqueued_at=None)
    )


def _requeue_due_retries(now: datetime) -> None:
    db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.FAILED_TEMP, Delivery.next_attempt_at <= now)
        .values(status=DeliveryStatus.QUEUED, enqueued_at=None)
    )


def _hand_out(campaign_id: int, now: datetime, size: int, stale: datetime) -> list[Batch]:
    ids = db.session.scalars(
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == DeliveryStatus.QUEUED,
            or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < stale),
        )
        .order_by(Delivery.id)
        .limit(size * MAX_BATCHES_PER_TICK)
    ).all()
    batches = []
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        batches.append(Batch(campaign_id, chunk[0], chunk[-1]))
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk), Delivery.status == DeliveryStatus.QUEUED)
            .values(enqueued_at=now)
        )
    return batches


def _finish_if_done(campaign_id: int, now: datetime) -> None:
    still_open = db.session.scalar(
        select(
            exists().where(
                Delivery.campaign_id == campaign_id, Delivery.status.in_(OPEN_DELIVERY_STATES)
            )
        )
    )
    if not still_open:
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
            .values(status=CampaignStatus.SENT, finished_at=now)
        )


def claim(batch: Batch, now: datetime | None = None) -> list[Claimed]:
    """Atomically take the lease on the batch's queued rows and count the attempt."""
    now = now or utcnow()
    candidates = select(Delivery.id).where(
        Delivery.campaign_id == batch.campaign_id,
        Delivery.id.between(batch.first_id, batch.last_id),
        Delivery.status == DeliveryStatus.QUEUED,
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    lease = now + timedelta(seconds=current_app.config["LEASE_SECONDS"])
    rows = db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates))
        .values(
            status=DeliveryStatus.CLAIMED,
            lease_until=lease,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .returning(Delivery.id, Delivery.subscriber_id, Delivery.attempts)
    ).all()
    db.session.commit()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.delivery_id)


def campaign_is_sending(campaign_id: int) -> bool:
    """Return whether the campaign is still in ``sending`` (not paused or cancelled)."""
    status = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    return status == CampaignStatus.SENDING


def record(
    delivery_id: int,
    status: DeliveryStatus,
    *,
    reply: str = "",
    language: str | None = None,
    message_id: str | None = None,
) -> None:
    """Write one outcome right after the server's reply, and commit it."""
    now = utcnow()
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=status,
            smtp_reply=reply[:1000],
            language=language,
            message_id=message_id,
            lease_until=None,
            updated_at=now,
        )
    )
    db.session.commit()


def record_retry(delivery_id: int, attempts: int, started_at: datetime | None, reply: str) -> None:
    """Schedule another attempt with exponential backoff and jitter, or give up past the window."""
    now = utcnow()
    window = timedelta(seconds=current_app.config["RETRY_WINDOW_SECONDS"])
    if started_at is not None and now - started_at > window:
        record(
            delivery_id,
            DeliveryStatus.FAILED_PERM,
            reply=f"gave up after {attempts} attempts: {reply}",
        )
        return
    delay = min(60 * 2 ** (attempts - 1), 6 * 3600) * random.uniform(0.8, 1.2)
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=DeliveryStatus.FAILED_TEMP,
            smtp_reply=reply[:1000],
            lease_until=None,
            next_attempt_at=now + timedelta(seconds=delay),
            updated_at=now,
        )
    )
    db.session.commit()


def recipient_if_mailable(campaign_id: int, subscriber_id: int) -> Recipient | None:
    """Re-check one claimed row just before sending: still subscribed, active, unsuppressed."""
    row = db.session.execute(
        select(
            Subscriber.uid,
            Subscriber.email,
            Subscriber.name,
            Subscriber.language,
            Group.name,
            Subscriber.attributes,
        )
        .outerjoin(Group, Group.id == Subscriber.group_id)
        .where(Subscriber.id == subscriber_id, mailable_now(campaign_id))
    ).first()
    return Recipient(*row) if row is not None else None


def release(delivery_ids: list[int]) -> None:
    """Give claimed rows back to the queue without counting the attempt (pause, shutdown)."""
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.CLAIMED)
        .values(
            status=DeliveryStatus.QUEUED,
            lease_until=None,
            enqueued_at=None,
            attempts=Delivery.attempts - 1,
        )
    )
    db.session.commit()
