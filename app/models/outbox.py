"""One-off messages (test sends, system emails) waiting for the worker to send them.

The web side writes a row; the dispatcher hands due rows to a task; the task records
what the SMTP server said. Same outbox rule as campaigns: the web never talks SMTP.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.base import UTCDateTime, str_enum, utcnow


class OutboxKind(enum.StrEnum):
    TEST = "test"  # a campaign variant sent to an organiser's address, marked as a test
    CONFIRM = "confirm"  # system email: confirm a subscription (double opt-in)
    GOODBYE = "goodbye"  # system email: after leaving a list by hand
    FRESH_LINK = "fresh_link"  # system email: a new preference link, asked for on the public form


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(str_enum(OutboxKind))
    to_address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(35))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not sent before this time: a confirmation held back by the one-a-day rule.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reply: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
