"""The bounce log: what came back for whom (``ReturnEvent`` rows), newest first and filtered,
one subscriber's returns and score, and an organiser's "mail them again".

Pages are keyset pages on (``created_at``, ``id``), so the thousandth page of a million rows
costs what the first does. A filter is read field by field: a bad value is refused at its
field and the others still apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, or_, select

from app.addresses import normalize_email
from app.audience import bounces, counts
from app.errors import InvalidInput, Malformed, NoSuch, NotFound, member_of
from app.extensions import db
from app.logs import audit
from app.models import Campaign, ReturnEvent, ReturnKind, Subscriber, SubscriberStatus

LOG_PAGE = 50
HISTORY_LIMIT = 100
_SOURCE = re.compile(r"[a-z0-9]{1,16}")
FIELDS = ("kind", "campaign", "source", "since", "until", "address")


@dataclass(frozen=True)
class LogFilter:
    """Which returns to show; empty fields let everything through."""

    kind: ReturnKind | None = None
    campaign_id: int | None = None
    source: str = ""
    since: date | None = None
    until: date | None = None  # inclusive
    address: str = ""
    subscriber_id: int | None = None  # the subscriber with ``address``

    def to_args(self) -> dict[str, str]:
        """The filter as URL fields (empty ones left out), for the page links."""
        args = {
            "kind": self.kind.value if self.kind else "",
            "campaign": str(self.campaign_id or ""),
            "source": self.source,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "address": self.address,
        }
        return {k: v for k, v in args.items() if v}


def read_filter(args: Mapping[str, str]) -> tuple[LogFilter, dict[str, InvalidInput]]:
    """The filter in URL fields, and what was refused in it by field (left out of it)."""
    values: dict[str, Any] = {}
    refused: dict[str, InvalidInput] = {}
    for name in FIELDS:
        typed = (args.get(name) or "").strip()
        if not typed:
            continue
        try:
            values.update(_READERS[name](typed))
        except InvalidInput as exc:
            refused[name] = exc
    since, until = values.get("since"), values.get("until")
    if since and until and until < since:
        refused["until"] = InvalidInput("the end date is before the start date", "until")
        del values["until"]
    return LogFilter(**values), refused


def _kind(typed: str) -> dict[str, Any]:
    return {"kind": member_of(ReturnKind, typed, "kind")}


def _campaign(typed: str) -> dict[str, Any]:
    if not typed.isdigit():
        raise Malformed("campaign", typed, "a campaign's number")
    if db.session.get(Campaign, int(typed)) is None:
        raise NoSuch("campaign", "campaign", typed)
    return {"campaign_id": int(typed)}


def _source(typed: str) -> dict[str, Any]:
    if not _SOURCE.fullmatch(typed):
        raise Malformed("source", typed, "a source such as smtp, imap or ses")
    return {"source": typed}


def _day(name: str) -> Any:
    def read(typed: str) -> dict[str, Any]:
        try:
            return {name: date.fromisoformat(typed)}
        except ValueError:
            raise Malformed(name, typed, "a date such as 2026-12-08") from None

    return read


def _address(typed: str) -> dict[str, Any]:
    try:
        address = normalize_email(typed)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), "address") from None
    found = db.session.scalar(select(Subscriber.id).where(Subscriber.email == address))
    if found is None:
        raise NoSuch("address", "subscriber", "", message="no subscriber has this address")
    return {"address": address, "subscriber_id": found}


_READERS = {
    "kind": _kind,
    "campaign": _campaign,
    "source": _source,
    "since": _day("since"),
    "until": _day("until"),
    "address": _address,
}


@dataclass(frozen=True)
class LogRow:
    """One return with the names a person reads: the subscriber's address, the campaign's."""

    event: ReturnEvent
    email: str | None
    campaign_name: str | None


@dataclass(frozen=True)
class LogPage:
    """A page of the log and the cursor of the next (None on the last)."""

    rows: list[LogRow]
    before: int | None = None


def _rows() -> Select[ReturnEvent, str, str]:
    return (
        select(ReturnEvent, Subscriber.email, Campaign.name)
        .outerjoin(Subscriber, Subscriber.id == ReturnEvent.subscriber_id)
        .outerjoin(Campaign, Campaign.id == ReturnEvent.campaign_id)
        .order_by(ReturnEvent.created_at.desc(), ReturnEvent.id.desc())
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def log_page(chosen: LogFilter, before: int | None = None, limit: int = LOG_PAGE) -> LogPage:
    """The returns the filter lets through, newest first, the page after event ``before``."""
    event = ReturnEvent
    conditions = [
        condition
        for wanted, condition in (
            (chosen.kind, event.kind == chosen.kind),
            (chosen.campaign_id, event.campaign_id == chosen.campaign_id),
            (chosen.source, event.source == chosen.source),
            (chosen.subscriber_id, event.subscriber_id == chosen.subscriber_id),
        )
        if wanted
    ]
    if chosen.since:
        conditions.append(event.created_at >= _midnight(chosen.since))
    if chosen.until:
        conditions.append(event.created_at < _midnight(chosen.until + timedelta(days=1)))
    cursor = db.session.get(ReturnEvent, before) if before else None
    if cursor is not None:
        conditions.append(
            or_(
                event.created_at < cursor.created_at,
                and_(event.created_at == cursor.created_at, event.id < cursor.id),
            )
        )
    found = db.session.execute(_rows().where(*conditions).limit(limit + 1)).all()
    rows = [LogRow(e, email, name) for e, email, name in found[:limit]]
    return LogPage(rows, rows[-1].event.id if len(found) > limit else None)


@dataclass(frozen=True)
class SubscriberReturns:
    """A subscriber's returns, newest first, and their soft-bounce score as of now."""

    rows: list[LogRow]
    score: float
    threshold: float
    status: SubscriberStatus
    more: bool = False

    @property
    def may_mail_again(self) -> bool:
        """Whether "mail them again" applies: only to a bounced subscriber."""
        return self.status is SubscriberStatus.BOUNCED


def of_subscriber(subscriber_id: int, limit: int = HISTORY_LIMIT) -> SubscriberReturns:
    """A subscriber's return history (the newest ``limit``) and current score."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber with id {subscriber_id}")
    found = db.session.execute(
        _rows().where(ReturnEvent.subscriber_id == subscriber_id).limit(limit + 1)
    ).all()
    scoring = bounces.Scoring.of(current_app.config)
    return SubscriberReturns(
        rows=[LogRow(e, email, name) for e, email, name in found[:limit]],
        score=bounces.score_of(db.session.connection(), subscriber_id, scoring),
        threshold=scoring.threshold,
        status=subscriber.status,
        more=len(found) > limit,
    )


def describe_returns(subscriber_id: int) -> dict[str, Any]:
    """A subscriber's score and return history as plain data (``tocsin subscribers show``)."""
    found = of_subscriber(subscriber_id)
    return {
        "bounce_score": round(found.score, 2),
        "returns": [
            {
                "at": row.event.created_at.isoformat(timespec="seconds"),
                "kind": row.event.kind.value,
                "status_code": row.event.status_code,
                "diagnostic": row.event.diagnostic,
                "source": row.event.source,
                "campaign_id": row.event.campaign_id,
                "suppressed": row.event.suppressed,
            }
            for row in found.rows
        ],
    }


class NotBounced(InvalidInput):
    """ "Mail them again" for a subscriber who is not bounced: nothing to lift."""

    def __init__(self, status: SubscriberStatus) -> None:
        self.status = status
        why = (
            " (a complaint is lifted only by taking the address off the suppression list)"
            if status is SubscriberStatus.COMPLAINED
            else ""
        )
        super().__init__(
            f"only a bounced subscriber can be mailed again; this one is {status.value}{why}",
            "status",
        )


def mail_again(subscriber_id: int, by: str) -> None:
    """Make a bounced subscriber active again: score cleared, bounce suppression lifted (a
    complaint's stays); commit and write who did it to the audit log. Raise ``NotFound``
    or ``NotBounced``."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber with id {subscriber_id}")
    status = subscriber.status
    if not bounces.mail_again(db.session.connection(), subscriber_id):
        db.session.rollback()
        raise NotBounced(status)
    db.session.commit()
    counts.invalidate()
    audit("bounced subscriber mailed again: subscriber=%s by=%s", subscriber_id, by)
