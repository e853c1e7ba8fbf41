"""What the return path received, for organisers: the inbound messages newest first, what
processing made of each, and the bytes as they came (never loaded for the list: a bounce
may carry a whole returned message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.errors import NotFound, member_of
from app.extensions import db
from app.models import InboundMessage, InboundStatus

INBOUND_PAGE = 50
# How much of a message a page shows; the whole of it is a download.
SHOWN_BYTES = 200_000


@dataclass(frozen=True)
class Received:
    """An inbound message without its bytes."""

    id: int
    source: str
    envelope_from: str
    recipients: list[str]
    size: int
    status: InboundStatus
    attempts: int
    outcome: str
    received_at: datetime
    processed_at: datetime | None


_COLUMNS = (
    InboundMessage.id,
    InboundMessage.source,
    InboundMessage.envelope_from,
    InboundMessage.recipients,
    InboundMessage.size,
    InboundMessage.status,
    InboundMessage.attempts,
    InboundMessage.outcome,
    InboundMessage.received_at,
    InboundMessage.processed_at,
)


def recent(
    status: str = "", before: int | None = None, limit: int = INBOUND_PAGE
) -> list[Received]:
    """The newest inbound messages first (keyset on id), maybe only those with ``status``;
    raise ``NotOneOf`` for a status that is not one."""
    statement = select(*_COLUMNS).order_by(InboundMessage.id.desc()).limit(limit)
    if status:
        statement = statement.where(
            InboundMessage.status == member_of(InboundStatus, status, "status")
        )
    if before:
        statement = statement.where(InboundMessage.id < before)
    return [Received(**row._asdict()) for row in db.session.execute(statement)]


def get(inbound_id: int) -> Received:
    """One inbound message without its bytes; raise ``NotFound``."""
    row = db.session.execute(select(*_COLUMNS).where(InboundMessage.id == inbound_id)).one_or_none()
    if row is None:
        raise NotFound(f"no inbound message with id {inbound_id}")
    return Received(**row._asdict())


def raw_of(inbound_id: int, limit: int | None = None) -> bytes:
    """The message's bytes as received, or only the first ``limit`` of them (cut in the
    database, so a large message is not read whole for a page); raise ``NotFound``."""
    column = func.substr(InboundMessage.raw, 1, limit) if limit else InboundMessage.raw
    raw = db.session.scalar(select(column).where(InboundMessage.id == inbound_id))
    if raw is None:
        raise NotFound(f"no inbound message with id {inbound_id}")
    return bytes(raw)


def as_text(raw: bytes) -> str:
    """Bytes as text a person can read: UTF-8, anything else shown as replacement marks."""
    return raw.decode("utf-8", errors="replace")
