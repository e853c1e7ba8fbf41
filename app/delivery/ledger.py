"""The delivery ledger: the database, not the broker, decides what is left to send.

Rows move ``queued -> claimed -> sent | failed_temp | failed_perm | unknown | skipped``.
A claim takes a lease and counts the attempt; an expired lease returns the row to the
queue; a row handed to the broker but never claimed is handed out again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, exists, func, literal, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from app.audience.filters import matches_filters
from app.database import insert_or_ignore
from app.extensions import db
from app.models import (
    OPEN_DELIVERY_STATES,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    campaign_lists,
)
from app.models.base import utcnow
from app.tokens import hasher

HELD_REPLY = "held: the variant for this language was not ready"

# Batches handed out but not yet claimed, per campaign: enough to keep every worker busy
# without flooding the broker with work it would only hand back.
MAX_OUTSTANDING_BATCHES = 40


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
    first_attempt_at: datetime
    lease_until: datetime  # every write of this claim names it: a lapsed lease writes nothing


def mailable_now(campaign_id: int) -> ColumnElement[bool]:
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


def audience_of(campaign: Campaign) -> ColumnElement[bool]:
    """SQL condition: the subscriber is one of the campaign's recipients right now."""
    return and_(mailable_now(campaign.id), matches_filters(campaign.filters or {}))


def insert_deliveries(campaign: Campaign, held_languages: Iterable[str] = ()) -> int:
    """Insert one row per recipient, set-based; the caller commits.

    Subscribers whose language is in ``held_languages`` get a ``skipped`` row saying they
    were held back (their variant was not ready); everyone else is queued. Refused
    (``HashKeyMismatch``) while the hash key is not the one the suppressions were made with.
    """
    hasher()  # the audience is filtered by hash: only with the key that made the hashes
    held = sorted(held_languages)
    status = (
        case(
            (Subscriber.language.in_(held), literal(DeliveryStatus.SKIPPED.value)),
            else_=literal(DeliveryStatus.QUEUED.value),
        )
        if held
        else literal(DeliveryStatus.QUEUED.value)
    )
    reply = (
        case((Subscriber.language.in_(held), literal(HELD_REPLY)), else_=literal(""))
        if held
        else literal("")
    )
    audience = (
        select(
            literal(campaign.id),
            Subscriber.id,
            status,
            literal(0),
            reply,
            literal(utcnow(), type_=Delivery.created_at.type),
        )
        .where(audience_of(campaign))
        .order_by(Subscriber.id)
    )
    columns = ["campaign_id", "subscriber_id", "status", "attempts", "smtp_reply", "created_at"]
    db.session.execute(insert_or_ignore(Delivery.__table__).from_select(columns, audience))
    # Counted, not taken from rowcount: psycopg through SQLAlchemy reports -1 for INSERT…SELECT.
    return db.session.execute(
        select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
    ).scalar_one()


def dispatch(now: datetime | None = None) -> list[Batch]:
    """Sweep leases, requeue due retries, finish campaigns, and hand out new batches."""
    now = now or utcnow()
    config = current_app.config
    _sweep_expired_leases(now)
    _requeue_due_retries(now)
    db.session.commit()
    batches: list[Batch] = []
    stale = now - timedelta(seconds=config["REDISPATCH_SECONDS"])
    sending = db.session.scalars(
        select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    ).all()
    for campaign_id in sending:
        batches.extend(_hand_out(campaign_id, now, config["BATCH_SIZE"], stale))
        if not _finish_if_done(campaign_id, now):
            _sample_progress(campaign_id)
        db.session.commit()  # one campaign at a time: rows, then the campaign row
    return batches


def _sweep_expired_leases(now: datetime) -> None:
    # Rows of cancelled campaigns that a worker gave back or abandoned end here, skipped.
    cancelled = select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED)
    waiting = or_(
        Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.FAILED_TEMP)),
        and_(Delivery.status == DeliveryStatus.CLAIMED, Delivery.lease_until < now),
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.campaign_id.in_(cancelled), waiting)
        .values(status=DeliveryStatus.SKIPPED, lease_until=None, smtp_reply="campaign cancelled")
    )
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
    queued = and_(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.QUEUED)
    outstanding = db.session.execute(
        select(func.count()).select_from(Delivery).where(queued, Delivery.enqueued_at >= stale)
    ).scalar_one()
    room = MAX_OUTSTANDING_BATCHES * size - outstanding
    if room < size:
        return []
    ids = db.session.scalars(
        select(Delivery.id)
        .where(queued, or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < stale))
        .order_by(Delivery.id)
        .limit(room)
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


def _finish_if_done(campaign_id: int, now: datetime) -> bool:
    still_open = db.session.scalar(
        select(
            exists().where(
                Delivery.campaign_id == campaign_id, Delivery.status.in_(OPEN_DELIVERY_STATES)
            )
        )
    )
    if still_open:
        return False
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.SENT, finished_at=now)
    )
    return True


def _sample_progress(campaign_id: int) -> None:
    """Keep the last two (time, sent) readings so progress can show a rate and an ETA."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return
    samples = list(campaign.progress_samples or [])
    if samples and time.time() - samples[-1][0] < 5:
        return
    sent = db.session.execute(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENT)
    ).scalar_one()
    campaign.progress_samples = [*samples[-1:], [time.time(), sent]]


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
            updated_at=now,
            attempts=Delivery.attempts + 1,
            first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
        )
        .returning(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.attempts,
            Delivery.first_attempt_at,
            Delivery.lease_until,
        )
    ).all()
    db.session.commit()
    claimed = []
    for delivery_id, subscriber_id, attempts, first_attempt_at, lease_until in rows:
        assert first_attempt_at is not None and lease_until is not None  # this UPDATE set both
        claimed.append(Claimed(delivery_id, subscriber_id, attempts, first_attempt_at, lease_until))
    return sorted(claimed, key=lambda c: c.delivery_id)


def campaign_status(campaign_id: int) -> CampaignStatus | None:
    """Return the campaign's status as the database has it now."""
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
