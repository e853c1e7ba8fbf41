"""What a bounce or a complaint does to a subscriber: the scoring rules, in one place.

Like Mailman, the verdict goes by the RFC 3463 status code, never by the DSN's ``Action:``
word: a hard bounce (5.1.x about the recipient, 5.2.1) suppresses at once; any 4.x.x, and
any other 5.x.x but a policy refusal (5.7.x, or 5.1.7/5.1.8 about our sender's address:
they say something about the message or the sender, not the recipient), is soft: it adds
to a score that halves every ``BOUNCE_HALF_LIFE_DAYS`` and suppresses at
``BOUNCE_THRESHOLD``; at most one soft bounce a day counts, so one odd report, or a burst of
them, never removes anyone. A complaint
suppresses at once, from every list. The send path's own 5xx replies and the inbound
reports go through the same ``record``.

Works on a ``Connection`` (the send path's batch ledger has no ORM session); the caller
commits.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from app.audience.suppressions import suppress_hash
from app.database import insert_or_ignore
from app.models import (
    BounceScore,
    Delivery,
    ReturnedAs,
    ReturnEvent,
    ReturnKind,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from app.models.base import utcnow

log = logging.getLogger(__name__)

# Not inside an IP address or a version number ("192.5.1.1", "Mailman 2.0.12").
STATUS_CODE = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.]*\d)")
# 5.1.7 and 5.1.8 are about the sender's address, not the recipient's.
SENDER_DETAILS = {"7", "8"}


@dataclass(frozen=True)
class Scoring:
    """The soft-bounce rules an installation runs with (``TOCSIN_BOUNCE_*``)."""

    threshold: float = 3.0
    half_life_days: float = 30.0

    @classmethod
    def of(cls, config: Any) -> Scoring:
        return cls(
            float(config.get("BOUNCE_THRESHOLD", cls.threshold)),
            float(config.get("BOUNCE_HALF_LIFE_DAYS", cls.half_life_days)),
        )

    def decayed(self, score: float, since: datetime, now: datetime) -> float:
        days = max(0.0, (now - since).total_seconds() / 86400)
        return score * math.pow(0.5, days / self.half_life_days)


def status_in(text: str) -> str:
    """The first RFC 3463 status code in a reply or diagnostic ("5.1.1"), or ""."""
    found = STATUS_CODE.search(text or "")
    return ".".join(found.groups()) if found else ""


def judge(status: str) -> ReturnKind:
    """A failure's kind by its status code alone ("" or an unreadable code: soft)."""
    found = STATUS_CODE.fullmatch(status.strip())
    if not found:
        return ReturnKind.SOFT
    klass, subject, detail = found.groups()
    if klass == "5" and subject == "1" and detail in SENDER_DETAILS:
        return ReturnKind.POLICY  # our sender's address was refused, not theirs
    if klass == "5" and subject == "1":
        return ReturnKind.HARD
    if klass == "5" and subject == "2" and detail == "1":
        return ReturnKind.HARD
    if klass == "5" and subject == "7":
        return ReturnKind.POLICY
    return ReturnKind.SOFT


@dataclass(frozen=True)
class Recorded:
    """What ``record`` did: the event's id, the score after it, whether it suppressed."""

    event_id: int
    score: float
    suppressed: bool


def record(
    connection: Connection,
    subscriber_id: int,
    kind: ReturnKind,
    *,
    source: str,
    scoring: Scoring,
    status_code: str = "",
    diagnostic: str = "",
    campaign_id: int | None = None,
    delivery_id: int | None = None,
    inbound_id: int | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
    mark_delivery: bool = True,
) -> Recorded:
    """Write one event for a subscriber and apply its rule (see the module's docstring).
    An unsubscribe is only written here: the caller leaves the list."""
    now = now or utcnow()
    score, suppressed = 0.0, False
    if kind is ReturnKind.SOFT:
        score = _add_soft(connection, subscriber_id, scoring, now)
        suppressed = score >= scoring.threshold
        reason = SuppressionReason.BOUNCE
        note = f"soft bounces: score {score:.2f} reached {scoring.threshold:g}"
    elif kind is ReturnKind.HARD:
        suppressed, reason = True, SuppressionReason.BOUNCE
        note = f"hard bounce {status_code}: {diagnostic}".strip()
    elif kind is ReturnKind.COMPLAINT:
        suppressed, reason = True, SuppressionReason.COMPLAINT
        note = "complaint"
    if suppressed:
        _suppress(connection, subscriber_id, reason, note[:1000])
    returned = kind in (ReturnKind.HARD, ReturnKind.SOFT, ReturnKind.COMPLAINT)
    if mark_delivery and delivery_id is not None and returned:
        _mark_delivery(connection, delivery_id, kind, now)
    event_id = connection.execute(
        insert(ReturnEvent.__table__)
        .values(
            kind=kind.value,
            subscriber_id=subscriber_id,
            campaign_id=campaign_id,
            delivery_id=delivery_id,
            inbound_id=inbound_id,
            source=source[:16],
            status_code=status_code[:16],
            diagnostic=diagnostic[:1000],
            score=score,
            suppressed=suppressed,
            details=details or {},
            created_at=now,
        )
        .returning(ReturnEvent.__table__.c.id)
    ).scalar_one()
    return Recorded(event_id, score, suppressed)


def _add_soft(connection: Connection, subscriber_id: int, scoring: Scoring, now: datetime) -> float:
    """Decay the score to now and add one, unless a soft bounce already counted today."""
    table = BounceScore.__table__
    connection.execute(
        insert_or_ignore(table, connection).values(
            subscriber_id=subscriber_id, score=0.0, updated_at=now
        )
    )
    query = select(table.c.score, table.c.updated_at).where(table.c.subscriber_id == subscriber_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    old, since = connection.execute(query).one()
    since = since if since.tzinfo else since.replace(tzinfo=now.tzinfo)
    counted_today = old > 0 and since.date() == now.date()
    score = old if counted_today else scoring.decayed(old, since, now) + 1.0
    if not counted_today:
        connection.execute(
            update(table)
            .where(table.c.subscriber_id == subscriber_id)
            .values(score=score, updated_at=now)
        )
    return score


def _suppress(
    connection: Connection, subscriber_id: int, reason: SuppressionReason, note: str
) -> None:
    status = (
        SubscriberStatus.COMPLAINED
        if reason is SuppressionReason.COMPLAINT
        else SubscriberStatus.BOUNCED
    )
    # A blocklisted subscriber stays blocklisted; a complaint outranks a bounce.
    keep = [SubscriberStatus.BLOCKLISTED, SubscriberStatus.COMPLAINED]
    email_hash = (
        connection.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber_id, Subscriber.status.not_in(keep))
            .values(status=status)
            .returning(Subscriber.email_hash)
        ).scalar()
        or connection.execute(
            select(Subscriber.email_hash).where(Subscriber.id == subscriber_id)
        ).scalar()
    )
    if email_hash is not None:
        suppress_hash(connection, email_hash, reason, note)


def _mark_delivery(
    connection: Connection, delivery_id: int, kind: ReturnKind, now: datetime
) -> None:
    """Say on the delivery row what came back; its status and reply stay what the server said
    then. A complaint outranks a bounce and is never overwritten by one."""
    returned = ReturnedAs.COMPLAINED if kind is ReturnKind.COMPLAINT else ReturnedAs.BOUNCED
    query = update(Delivery).where(Delivery.id == delivery_id)
    if returned is ReturnedAs.BOUNCED:
        query = query.where(
            (Delivery.returned.is_(None)) | (Delivery.returned != ReturnedAs.COMPLAINED.value)
        )
    connection.execute(query.values(returned=returned.value, returned_at=now))


def mail_again(connection: Connection, subscriber_id: int) -> bool:
    """An organiser's "mail them again" for a bounced subscriber: the score is cleared, the
    bounce suppression lifted and the subscriber active again. A complaint is not lifted
    here (that is removing a suppression, a deliberate act of its own). Returns whether the
    subscriber was bounced."""
    row = connection.execute(
        select(Subscriber.status, Subscriber.email_hash).where(Subscriber.id == subscriber_id)
    ).one_or_none()
    if row is None or row.status != SubscriberStatus.BOUNCED:
        return False
    connection.execute(delete(BounceScore).where(BounceScore.subscriber_id == subscriber_id))
    connection.execute(
        delete(Suppression).where(
            Suppression.email_hash == row.email_hash,
            Suppression.reason == SuppressionReason.BOUNCE,
        )
    )
    connection.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(status=SubscriberStatus.ACTIVE)
    )
    log.info("bounced subscriber %s is mailed again: score cleared", subscriber_id)
    return True


def score_of(connection: Connection, subscriber_id: int, scoring: Scoring) -> float:
    """The subscriber's soft-bounce score as of now (decayed)."""
    row = connection.execute(
        select(BounceScore.score, BounceScore.updated_at).where(
            BounceScore.subscriber_id == subscriber_id
        )
    ).one_or_none()
    if row is None:
        return 0.0
    now = utcnow()
    since = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=now.tzinfo)
    return scoring.decayed(row.score, since, now)
