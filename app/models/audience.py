"""Who receives mail: groups, subscribers, lists, subscriptions, suppressions."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.languages import fallback_chain
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


class Group(Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))
    website: Mapped[str | None] = mapped_column(String(500))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Subscriber(Model):
    __tablename__ = "subscribers"
    __table_args__ = (
        # Search by name prefix and the panel's filters stay index scans at a million rows.
        Index("ix_subscribers_name", "name"),
        Index("ix_subscribers_language", "language"),
        Index("ix_subscribers_group_id", "group_id"),
        Index("ix_subscribers_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Keyed hash of the address: joins against suppressions without storing addresses there.
    # Not indexed: suppressions are probed by it, a subscriber is found by the address.
    email_hash: Mapped[str] = mapped_column(String(64))
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
    # When the last double opt-in mail went out: at most one a day per address.
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group: Mapped[Group | None] = relationship()


class MailingList(Model):
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
    # The name and description readers of other languages see: ``{tag: {"name": …,
    # "description": …}}``. Always read with the list and never searched by language, so a
    # column rather than a table; ``name`` and ``description`` above are the list's own.
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )

    def wording(self, language: str | None) -> ListWording:
        """The list's name and description for readers of ``language``.

        Each falls back on its own: the reader's language, its primary subtag, the list's
        default language (and its primary subtag), then the list's own name and description.
        """
        written = self.translations or {}
        chain = fallback_chain(language, self.default_language)
        entries = [written[tag] for tag in chain if tag in written]
        name = next((e["name"] for e in entries if e.get("name")), self.name)
        description = next(
            (e["description"] for e in entries if e.get("description")), self.description
        )
        return ListWording(name, description)


@dataclass(frozen=True)
class ListWording:
    """What readers of one language see of a list."""

    name: str
    description: str


def list_names(lists: Iterable[MailingList], language: str | None) -> list[str]:
    """The names of ``lists`` for readers of ``language``, in alphabetical order."""
    return sorted(m.wording(language).name for m in lists)


class Subscription(Model):
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


class SignupRequest(Model):
    """A public form's sign-up, waiting for the worker.

    The form stores what it was given, already checked (address, name, language), and
    answers at once: the same work and the same page for every address. Only the worker
    looks the address up (``subscriptions.process_sign_ups``) and deletes the row.
    """

    __tablename__ = "signup_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    language: Mapped[str] = mapped_column(String(35))
    # Failed applications so far: a request that keeps failing is dropped, not retried forever.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )


class LinkRequest(Model):
    """A public form's "send me a fresh link", waiting for the worker.

    Like a sign-up request: the form stores the checked address and answers at once, the
    same page after the same work for every address; only the worker looks the address up
    (``fresh_links.process_requests``) and deletes the row.
    """

    __tablename__ = "link_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )


class BlockedDomain(Model):
    """A domain whose addresses are never mailed nor imported (e.g. a disposable-mail host)."""

    __tablename__ = "blocked_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportMode(enum.StrEnum):
    SUBSCRIBE = "subscribe"  # confirmed subscriptions (the organiser vouches for consent)
    OPT_IN = "opt_in"  # unconfirmed; each new address gets a double opt-in mail
    UPDATE = "update"  # change existing subscribers only; unknown addresses are reported
    BLOCKLIST = "blocklist"  # suppress every address in the file

    @property
    def creates(self) -> bool:
        """Whether the mode adds subscribers to a list (the others only change stored ones)."""
        return self in (ImportMode.SUBSCRIBE, ImportMode.OPT_IN)


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # waiting for the column mapping
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Model):
    """A CSV import: the file waits under the instance folder; the worker reads it in a stream."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("mailing_lists.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    encoding: Mapped[str] = mapped_column(String(32), default="")
    delimiter: Mapped[str] = mapped_column(String(4), default="")
    mode: Mapped[ImportMode] = mapped_column(str_enum(ImportMode), default=ImportMode.SUBSCRIBE)
    # CSV column name -> field (email, name, language, group, country, attribute:<key>).
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[ImportStatus] = mapped_column(
        str_enum(ImportStatus), default=ImportStatus.UPLOADED
    )
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    mailing_list: Mapped[MailingList | None] = relationship()


class Suppression(Model):
    """An address never to be mailed again, kept only as a keyed hash."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(str_enum(SuppressionReason))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
