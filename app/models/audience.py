"""Who receives mail: groups, subscribers, lists, subscriptions, suppressions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, new_uid, str_enum, utcnow


class SubscriberStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKLISTED = "blocklisted"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class ListVisibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class OptIn(enum.StrEnum):
    DOUBLE = "double"
    SINGLE = "single"


class SubscriptionStatus(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class SuppressionReason(enum.StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    ERASURE = "erasure"
    MANUAL = "manual"


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))
    website: Mapped[str | None] = mapped_column(String(500))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Subscriber(db.Model):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Keyed hash of the address: joins against suppressions without storing addresses there.
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(35), default="en")
    # ISO 3166 alpha-2; when empty, the group's country stands for the subscriber's.
    country: Mapped[str | None] = mapped_column(String(2))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    status: Mapped[SubscriberStatus] = mapped_column(
        str_enum(SubscriberStatus), default=SubscriberStatus.ACTIVE
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consent_source: Mapped[str] = mapped_column(String(200), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group: Mapped[Group | None] = relationship()


class MailingList(db.Model):
    __tablename__ = "mailing_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[ListVisibility] = mapped_column(
        str_enum(ListVisibility), default=ListVisibility.PRIVATE
    )
    optin: Mapped[OptIn] = mapped_column(str_enum(OptIn), default=OptIn.DOUBLE)
    default_language: Mapped[str] = mapped_column(String(35), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(
        ForeignKey("mailing_lists.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus), default=SubscriptionStatus.UNCONFIRMED
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    subscriber: Mapped[Subscriber] = relationship()
    mailing_list: Mapped[MailingList] = relationship()


class Suppression(db.Model):
    """An address never to be mailed again, kept only as a keyed hash."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(str_enum(SuppressionReason))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
