"""Organiser accounts: creation, passwords (Argon2), roles, and the sessions kept on the
server so that any of them can be ended.

A login creates a ``UserSession`` row holding the SHA-256 of a random id; the session
cookie (signed by Flask) holds only that id. A request is signed in only while its row
exists, the user is active, and neither the idle timeout (``SESSION_IDLE_HOURS``) nor the
absolute lifetime (``SESSION_MAX_DAYS``) has passed. Logging out deletes the row; a
password change deletes the user's other rows; a role change, a password set by an
operator, and deactivation delete them all.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import delete, select

from app.addresses import normalize_email
from app.database import run_counted
from app.errors import Conflict, InvalidInput, NotFound, member_of
from app.extensions import db
from app.models import User, UserRole, UserSession
from app.models.base import utcnow
from app.zones import zone_named

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
# How often a session's ``last_seen_at`` is written, at most.
SEEN_EVERY = timedelta(minutes=1)
audit = logging.getLogger("tocsin.audit")


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", field
        )


def _role(role: str) -> UserRole:
    return member_of(
        UserRole, role, "role", message=f"role must be one of owner, editor, viewer, not {role!r}"
    )


def create_user(email: str, password: str, role: str = "editor") -> User:
    """Create an organiser account; the password is stored only as an Argon2 hash."""
    email = normalize_email(email)
    _check_password(password)
    user_role = _role(role)
    if db.session.scalar(select(User).where(User.email == email)):
        raise Conflict(f"an account for {email} exists already")
    user = User(email=email, password_hash=_hasher.hash(password), role=user_role)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the active user whose address and password match, else ``None`` (after the
    same work whether or not the account exists or is active)."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is None:
        _hasher.hash(password)  # spend the same time whether or not the account exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user if user.active else None


def set_timezone(user: User, timezone: str) -> None:
    """Set the zone the panel shows this organiser's times in."""
    user.timezone = zone_named(timezone).key
    db.session.commit()


def user_named(email: str) -> User:
    """The account of an address, or ``NotFound``."""
    try:
        address = normalize_email(email)
    except InvalidInput:
        address = email
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None:
        raise NotFound(f"there is no account for {email}")
    return user


def session_hash(token: str) -> str:
    """What is stored of a session id: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _limits() -> tuple[timedelta, timedelta]:
    """The idle timeout and the absolute lifetime of a session."""
    config = current_app.config
    return (
        timedelta(hours=float(config["SESSION_IDLE_HOURS"])),
        timedelta(days=float(config["SESSION_MAX_DAYS"])),
    )


def start_session(user: User, user_agent: str = "") -> str:
    """Record a new session for ``user``; return its random id, for the session cookie
    only (the database keeps its hash). Sessions that have ended by time are deleted."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    idle, lifetime = _limits()
    db.session.execute(  # sessions nobody came back to, anyone's
        delete(UserSession).where(
            (UserSession.last_seen_at < now - idle) | (UserSession.created_at < now - lifetime)
        )
    )
    db.session.add(
        UserSession(
            token_hash=session_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            user_agent=user_agent[:300],
        )
    )
    db.session.commit()
    return token


def user_for_session(token: str) -> User | None:
    """The active user a session id belongs to, if its session has not ended, timed out
    or outlived its lifetime; a session found too old is deleted."""
    if not token or not isinstance(token, str):
        return None
    found = db.session.scalar(
        select(UserSession).where(UserSession.token_hash == session_hash(token))
    )
    if found is None:
        return None
    now = utcnow()
    idle, lifetime = _limits()
    user = db.session.get(User, found.user_id)
    if (
        user is None
        or not user.active
        or now - found.last_seen_at > idle
        or now - found.created_at > lifetime
    ):
        db.session.delete(found)
        db.session.commit()
        return None
    if now - found.last_seen_at > SEEN_EVERY:
        found.last_seen_at = now
        db.session.commit()
    return user


def end_session(token: str | None) -> None:
    """End one session (logging out)."""
    if token:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == session_hash(token)))
        db.session.commit()


def end_sessions(user: User, keep: str | None = None) -> int:
    """End every session of ``user``, except the one whose id is ``keep``; return how many."""
    statement = delete(UserSession).where(UserSession.user_id == user.id)
    if keep:
        statement = statement.where(UserSession.token_hash != session_hash(keep))
    ended = run_counted(statement)
    db.session.commit()
    return int(ended or 0)


def sessions_of(user: User) -> list[UserSession]:
    """The user's sessions, the most recently seen first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def change_password(
    user: User, current: str, new: str, confirmation: str, keep: str | None = None
) -> int:
    """The organiser's own password change: the current password is required, the new one
    must be long enough and typed twice. Every other session ends (``keep`` is the one
    making the change); return how many ended. Nothing changes when a check fails."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise InvalidInput("the current password is not right", "current") from None
    _check_password(new, "new")
    if new != confirmation:
        raise InvalidInput("the new password and its confirmation differ", "confirmation")
    user.password_hash = _hasher.hash(new)
    ended = end_sessions(user, keep=keep)
    audit.info("password changed by %s; %d other sessions ended", user.email, ended)
    return ended


def set_password(email: str, password: str) -> User:
    """An operator sets a password: every session of the account ends."""
    user = user_named(email)
    _check_password(password)
    user.password_hash = _hasher.hash(password)
    ended = end_sessions(user)
    audit.info("password of %s set by an operator; %d sessions ended", user.email, ended)
    return user


def set_role(email: str, role: str) -> User:
    """Change an account's role: every session of the account ends, so no page opened
    with the old role goes on acting with it."""
    user = user_named(email)
    user.role = _role(role)
    ended = end_sessions(user)
    audit.info("role of %s set to %s; %d sessions ended", user.email, user.role.value, ended)
    return user


def set_active(email: str, active: bool) -> User:
    """Deactivate an account (it cannot log in, and all its sessions end) or activate it."""
    user = user_named(email)
    user.active = active
    ended = end_sessions(user)
    audit.info(
        "%s %s; %d sessions ended", user.email, "activated" if active else "deactivated", ended
    )
    return user
