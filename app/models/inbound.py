"""What comes back: mail and provider events received, and what they did to whom.

``InboundMessage`` is the durable queue of the return path: every intake (the SMTP/LMTP
receiver, the mailbox poller, the provider webhooks) stores what it took here, before it
answers, and the worker processes it. ``ReturnEvent`` is the record of what a message
meant (a hard or soft bounce, a complaint, a mailto unsubscribe) for one subscriber;
``BounceScore`` is a subscriber's running soft-bounce score.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.base import BigId, UTCDateTime, str_enum, utcnow


class InboundStatus(enum.StrEnum):
    QUEUED = "queued"  # stored, waiting for the worker
    CLAIMED = "claimed"  # a worker holds it (until its lease lapses)
    APPLIED = "applied"  # it changed something (see its events)
    IGNORED = "ignored"  # read, understood or not, and it changed nothing (``outcome`` says why)
    FAILED = "failed"  # the worker stopped on it every time


class ReturnKind(enum.StrEnum):
    HARD = "hard"  # the address does not exist (5.1.x, 5.2.1): suppressed at once
    SOFT = "soft"  # a failure that may pass (4.x.x, most 5.x.x): adds to the score
    POLICY = "policy"  # refused by policy (5.7.x): about the message or sender, not scored
    COMPLAINT = "complaint"  # marked as spam (ARF, provider): suppressed at once
    UNSUBSCRIBE = "unsubscribe"  # a mailto unsubscribe (RFC 8058): that list only


class InboundMessage(Model):
    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # smtp, lmtp, imap, pop3, or a provider: ses, postmark, mailgun, sendgrid, generic.
    source: Mapped[str] = mapped_column(String(16))
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The bytes as received (a mail, or a provider's verified JSON body).
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    # SHA-256 of source and bytes: the same report received twice is processed once.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[InboundStatus] = mapped_column(
        str_enum(InboundStatus), default=InboundStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What processing made of it, for people: "hard bounce of …", "no token: ignored".
    outcome: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReturnEvent(Model):
    """One thing that came back for one subscriber; never rewritten."""

    __tablename__ = "return_events"
    __table_args__ = (
        Index("ix_return_events_subscriber_id", "subscriber_id", "id"),
        Index("ix_return_events_campaign_id", "campaign_id", "kind"),
        Index("ix_return_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[ReturnKind] = mapped_column(str_enum(ReturnKind))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    # Where it came from: smtp (the send path's own reply), or the inbound source.
    source: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[str] = mapped_column(String(16), default="")  # RFC 3463, "5.1.1"
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)  # the score after this event
    suppressed: Mapped[bool] = mapped_column(default=False)  # did this event suppress them
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BounceScore(Model):
    """A subscriber's soft-bounce score: decays over days, suppresses at a threshold."""

    __tablename__ = "bounce_scores"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookToken(Model):
    """A provider's one-time token already seen (Mailgun signs only its timestamp and token,
    not the event): the same token with other bytes is a replay and is refused."""

    __tablename__ = "webhook_tokens"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the body it came with
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
