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

from sqlalchemy import Connection, bindparam, delete, insert, select, update

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


@dataclass(frozen=True)
class Return:
    """One thing that came back for one subscriber, to be recorded (``record_all``)."""

    subscriber_id: int
    kind: ReturnKind
    source: str
    status_code: str = ""
    diagnostic: str = ""
    campaign_id: int | None = None
    delivery_id: int | None = None
    inbound_id: int | None = None
    details: dict[str, Any] | None = None
    # Say on the delivery row what came back (not for the send path's own refusals, whose
    # row says it already: failed_perm).
    mark_delivery: bool = True


def record(
    connection: Connection,
    subscriber_id: int,
    kind: ReturnKind,
    *,
    source: str,
    scoring: Scoring,
    now: datetime | None = None,
    **values: Any,
) -> Recorded:
    """Record one return (``Return``'s fields) and apply its rule; the caller commits."""
    one = Return(subscriber_id, kind, source, **values)
    return record_all(connection, [one], scoring=scoring, now=now)[0]


def record_all(
    connection: Connection,
    returns: list[Return],
    *,
    scoring: Scoring,
    now: datetime | None = None,
) -> list[Recorded]:
    """Write one event per return, in order, and apply the rules (see the module's
    docstring) with a few statements for the whole list; the caller commits. An unsubscribe
    is only written here: the caller leaves the list."""
    now = now or utcnow()
    soft = iter(
        _add_soft(
            connection,
            [r.subscriber_id for r in returns if r.kind is ReturnKind.SOFT],
            scoring,
            now,
        )
    )
    outcomes: list[tuple[float, bool]] = []
    suppress: dict[int, tuple[SuppressionReason, str]] = {}
    for item in returns:
        score, reason, note = 0.0, None, ""
        if item.kind is ReturnKind.SOFT:
            score = next(soft)
            if score >= scoring.threshold:
                reason = SuppressionReason.BOUNCE
                note = f"soft bounces: score {score:.2f} reached {scoring.threshold:g}"
        elif item.kind is ReturnKind.HARD:
            reason = SuppressionReason.BOUNCE
            note = f"hard bounce {item.status_code}: {item.diagnostic}".strip()
        elif item.kind is ReturnKind.COMPLAINT:
            reason, note = SuppressionReason.COMPLAINT, "complaint"
        held = suppress.get(item.subscriber_id)
        if reason is not None and (held is None or held[0] is not SuppressionReason.COMPLAINT):
            suppress[item.subscriber_id] = (reason, note[:1000])  # a complaint outranks
        outcomes.append((score, reason is not None))
    _suppress(connection, suppress, now)
    _mark_deliveries(connection, [r for r in returns if r.mark_delivery], now)
    ids = _insert_events(connection, returns, outcomes, now)
    return [
        Recorded(i, score, suppressed) for i, (score, suppressed) in zip(ids, outcomes, strict=True)
    ]


def _insert_events(
    connection: Connection,
    returns: list[Return],
    outcomes: list[tuple[float, bool]],
    now: datetime,
) -> list[int]:
    table = ReturnEvent.__table__
    rows = [
        {
            "kind": r.kind.value,
            "subscriber_id": r.subscriber_id,
            "campaign_id": r.campaign_id,
            "delivery_id": r.delivery_id,
            "inbound_id": r.inbound_id,
            "source": r.source[:16],
            "status_code": r.status_code[:16],
            "diagnostic": r.diagnostic[:1000],
            "score": score,
            "suppressed": suppressed,
            "details": r.details or {},
            "created_at": now,
        }
        for r, (score, suppressed) in zip(returns, outcomes, strict=True)
    ]
    if not rows:
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


def _add_soft(
    connection: Connection, subscriber_ids: list[int], scoring: Scoring, now: datetime
) -> list[float]:
    """For each soft bounce in turn: the subscriber's score decayed to now plus one, unless
    a soft bounce already counted today. Returns the scores after each."""
    if not subscriber_ids:
        return []
    table = BounceScore.__table__
    unique = sorted(set(subscriber_ids))
    connection.execute(
        insert_or_ignore(table, connection),
        [{"subscriber_id": s, "score": 0.0, "updated_at": now} for s in unique],
    )
    query = (
        select(table.c.subscriber_id, table.c.score, table.c.updated_at)
        .where(table.c.subscriber_id.in_(unique))
        .order_by(table.c.subscriber_id)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()  # in id order: two workers never lock crosswise
    state = {
        row.subscriber_id: (
            row.score,
            row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=now.tzinfo),
        )
        for row in connection.execute(query)
    }
    scores, changed = [], set()
    for subscriber_id in subscriber_ids:
        old, since = state[subscriber_id]
        if not (old > 0 and since.date() == now.date()):
            state[subscriber_id] = (scoring.decayed(old, since, now) + 1.0, now)
            changed.add(subscriber_id)
        scores.append(state[subscriber_id][0])
    if changed:
        connection.execute(
            update(table)
            .where(table.c.subscriber_id == bindparam("id"))
            .values(score=bindparam("score"), updated_at=bindparam("at")),
            [{"id": s, "score": state[s][0], "at": now} for s in sorted(changed)],
        )
    return scores


def _suppress(
    connection: Connection, suppress: dict[int, tuple[SuppressionReason, str]], now: datetime
) -> None:
    """Suppress these subscribers' addresses and set their status. A blocklisted subscriber
    stays blocklisted; a complaint outranks a bounce; an address suppressed already keeps
    its first reason."""
    if not suppress:
        return
    keep = [SubscriberStatus.BLOCKLISTED, SubscriberStatus.COMPLAINED]
    for reason, status in (
        (SuppressionReason.COMPLAINT, SubscriberStatus.COMPLAINED),
        (SuppressionReason.BOUNCE, SubscriberStatus.BOUNCED),
    ):
        ids = [s for s, (r, _) in suppress.items() if r is reason]
        if ids:
            connection.execute(
                update(Subscriber)
                .where(Subscriber.id.in_(ids), Subscriber.status.not_in(keep))
                .values(status=status)
            )
    hashes = dict(
        connection.execute(
            select(Subscriber.id, Subscriber.email_hash).where(Subscriber.id.in_(list(suppress)))
        ).all()
    )
    rows = [
        {"email_hash": hashes[s], "reason": r.value, "note": note, "created_at": now}
        for s, (r, note) in suppress.items()
        if s in hashes
    ]
    if rows:
        connection.execute(insert_or_ignore(Suppression.__table__, connection), rows)


def _mark_deliveries(connection: Connection, returns: list[Return], now: datetime) -> None:
    """Say on the delivery rows what came back; their status and reply stay what the server
    said then. A complaint outranks a bounce and is never overwritten by one."""
    complained = [
        r.delivery_id for r in returns if r.delivery_id and r.kind is ReturnKind.COMPLAINT
    ]
    bounced = [
        r.delivery_id
        for r in returns
        if r.delivery_id and r.kind in (ReturnKind.HARD, ReturnKind.SOFT)
    ]
    if complained:
        connection.execute(
            update(Delivery)
            .where(Delivery.id.in_(complained))
            .values(returned=ReturnedAs.COMPLAINED.value, returned_at=now)
        )
    if bounced:
        connection.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(bounced),
                Delivery.returned.is_(None) | (Delivery.returned != ReturnedAs.COMPLAINED.value),
            )
            .values(returned=ReturnedAs.BOUNCED.value, returned_at=now)
        )


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
