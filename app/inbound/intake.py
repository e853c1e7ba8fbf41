"""The durable queue of the return path: every intake stores what it took here before it
answers (250 to the MTA, 200 to a provider, a delete on the mailbox), and the worker's
dispatcher hands what is queued to ``processing``. Nothing accepted is lost if a process
dies after storing it; the same bytes received twice are stored once."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from app.database import insert_or_ignore
from app.errors import InvalidInput
from app.extensions import db
from app.models import InboundMessage, InboundStatus
from app.models.base import utcnow

log = logging.getLogger(__name__)

MAIL_SOURCES = ("smtp", "lmtp", "imap", "pop3")
PROVIDERS = ("ses", "postmark", "mailgun", "sendgrid", "generic")
# A bounce carries the returned message's headers and maybe its body; a campaign is small.
DEFAULT_MAX_BYTES = 10 << 20
CLAIM_LIMIT = 200
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 3


class TooLarge(InvalidInput):
    """A message over ``INBOUND_MAX_BYTES``: refused before it is stored."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the message is {size} bytes, over the limit of {limit}", "message")


@dataclass(frozen=True)
class Accepted:
    id: int
    duplicate: bool  # the same bytes were stored before; nothing new was queued


def max_bytes() -> int:
    return int(current_app.config.get("INBOUND_MAX_BYTES") or DEFAULT_MAX_BYTES)


def accept(
    raw: bytes,
    *,
    source: str,
    envelope_from: str = "",
    recipients: Sequence[str] = (),
) -> Accepted:
    """Store a received message or provider body and queue it for the worker; commit.
    Raise ``TooLarge`` over the size limit."""
    if source not in MAIL_SOURCES + PROVIDERS:
        raise ValueError(f"unknown inbound source {source!r}")
    limit = max_bytes()
    if len(raw) > limit:
        raise TooLarge(len(raw), limit)
    digest = hashlib.sha256(raw).hexdigest()
    inserted = db.session.execute(
        insert_or_ignore(InboundMessage.__table__)
        .values(
            source=source,
            envelope_from=envelope_from[:320],
            recipients=[r[:320] for r in recipients][:100],
            raw=raw,
            size=len(raw),
            digest=digest,
            status=InboundStatus.QUEUED.value,
            attempts=0,
            outcome="",
            received_at=utcnow(),
        )
        .returning(InboundMessage.__table__.c.id)
    ).scalar()
    db.session.commit()
    if inserted is not None:
        return Accepted(int(inserted), duplicate=False)
    existing = db.session.scalar(select(InboundMessage.id).where(InboundMessage.digest == digest))
    log.info(
        "inbound %s message received again (stored as #%s): not queued twice", source, existing
    )
    return Accepted(int(existing or 0), duplicate=True)


def claim_queued(now: datetime | None = None, limit: int = CLAIM_LIMIT) -> list[int]:
    """Take a lease on queued messages (and those whose lease lapsed); return their ids. A
    message the worker stopped on every time is given up on (``failed``)."""
    now = now or utcnow()
    lapsed = and_(InboundMessage.status == InboundStatus.CLAIMED, InboundMessage.lease_until < now)
    db.session.execute(
        update(InboundMessage)
        .where(lapsed, InboundMessage.attempts >= MAX_ATTEMPTS)
        .values(
            status=InboundStatus.FAILED,
            lease_until=None,
            outcome="gave up: the worker stopped while processing it, every time",
        )
    )
    due = or_(InboundMessage.status == InboundStatus.QUEUED, lapsed)
    ids = list(
        db.session.scalars(
            select(InboundMessage.id).where(due).order_by(InboundMessage.id).limit(limit)
        )
    )
    if not ids:
        db.session.commit()
        return []
    lease = now + LEASE
    db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.id.in_(ids), due)
        .values(
            status=InboundStatus.CLAIMED,
            lease_until=lease,
            attempts=InboundMessage.attempts + 1,
        )
    )
    db.session.commit()
    # In the order they came: a report and its later replay are read in that order.
    return list(
        db.session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.id.in_(ids), InboundMessage.lease_until == lease)
            .order_by(InboundMessage.id)
        )
    )
