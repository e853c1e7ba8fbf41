"""Organiser accounts and their signed-in sessions."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.base import UTCDateTime, str_enum, utcnow


class UserRole(enum.StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(str_enum(UserRole), default=UserRole.EDITOR)
    # Times in the panel are shown in this IANA zone.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A deactivated organiser cannot log in, and every session of theirs has ended.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    @property
    def can_edit(self) -> bool:
        """Owners and editors change things; viewers only look."""
        return self.role in (UserRole.OWNER, UserRole.EDITOR)


class UserSession(Model):
    """One signed-in browser. The session cookie carries a random id; only its SHA-256 is
    stored, so a copy of this table opens no panel. Deleting the row ends the session at
    its next request (``accounts.user_for_session``)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Written at most once a minute, so a busy page does not write on every request.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(300), default="", server_default="")
