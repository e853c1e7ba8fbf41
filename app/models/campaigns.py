"""What is sent: templates, campaigns, their language variants, and the delivery ledger."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model, db
from app.models.audience import MailingList
from app.models.base import BigId, UTCDateTime, new_uid, str_enum, utcnow


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class BodyFormat(enum.StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED_TEMP = "failed_temp"
    FAILED_PERM = "failed_perm"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class ReturnedAs(enum.StrEnum):
    """What a sent delivery later turned out to be (``Delivery.returned``)."""

    BOUNCED = "bounced"
    COMPLAINED = "complained"


# Rows in these states still need work; a campaign is `sent` only when none is left.
OPEN_DELIVERY_STATES = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.FAILED_TEMP,
)

campaign_lists = Table(
    "campaign_lists",
    db.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", ForeignKey("mailing_lists.id", ondelete="CASCADE"), primary_key=True),
)


class Template(Model):
    """A sandboxed Jinja HTML layout; ``{{ content }}`` marks where the body goes."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SystemEmail(Model):
    """An organiser's wording of a system email (``confirm``, ``goodbye``) in one language.

    Built-in wordings cover the shipped languages; a row here replaces one of them.
    """

    __tablename__ = "system_emails"
    __table_args__ = (UniqueConstraint("kind", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(35))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Campaign(Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    from_address: Mapped[str] = mapped_column(String(400), default="")
    default_language: Mapped[str] = mapped_column(String(35), default="en")
    fallbacks: Mapped[list[str]] = mapped_column(JSON, default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    status_reason: Mapped[str] = mapped_column(Text, default="")
    # Name of the SMTP server to send through; None: any configured one, by weight.
    smtp_server: Mapped[str | None] = mapped_column(String(64))
    # The dispatcher's last two (unix time, sent count) readings: the current rate and ETA.
    progress_samples: Mapped[list[list[float]]] = mapped_column(JSON, default=list)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The IANA zone the organiser scheduled in: the local time they chose is kept across DST.
    schedule_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # What a scheduled start does with recipients whose variant is not ready (hold/fallback).
    not_ready: Mapped[str | None] = mapped_column(String(16))
    # Opt-in public archive: one page per language, an index and an Atom feed.
    archive: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    template: Mapped[Template | None] = relationship()
    lists: Mapped[list[MailingList]] = relationship(secondary=campaign_lists)
    variants: Mapped[list[Variant]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="Variant.language"
    )


class Variant(Model):
    """The campaign in one language."""

    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("campaign_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(35))
    subject: Mapped[str] = mapped_column(String(500))
    preheader: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_format: Mapped[BodyFormat] = mapped_column(
        str_enum(BodyFormat), default=BodyFormat.MARKDOWN
    )
    ready: Mapped[bool] = mapped_column(Boolean, default=True)
    # Footer words the organiser writes (all three or none); empty: the catalogue's words in
    # this language, else English. ``%(lists)s`` in the reason stands for the list names.
    footer_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    unsubscribe_label: Mapped[str] = mapped_column(String(500), default="", server_default="")
    preferences_label: Mapped[str] = mapped_column(String(500), default="", server_default="")

    campaign: Mapped[Campaign] = relationship(back_populates="variants")


class Delivery(Model):
    """The ledger: one row per (campaign, subscriber); the database decides what is left."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_deliveries_campaign_status_id", "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str | None] = mapped_column(String(35))
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    smtp_reply: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # What came back after it was sent (``ReturnedAs``); ``status`` keeps what the server
    # said at the time, and the events table (``ReturnEvent``) the whole story.
    returned: Mapped[str | None] = mapped_column(String(16))
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ThrottleCounter(Model):
    """Messages sent through one SMTP server in one fixed window (the embedded throttle)."""

    __tablename__ = "throttle_counters"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    slot: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
