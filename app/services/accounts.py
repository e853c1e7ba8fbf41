"""Organiser accounts: creation and password checks (Argon2)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import User, UserRole
from app.services.subscribers import normalize_email
from app.zones import zone_named

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10


def create_user(email: str, password: str, role: str = "editor") -> User:
    """Create an organiser account; the password is stored only as an Argon2 hash."""
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", "password"
        )
    try:
        user_role = UserRole(role)
    except ValueError:
        raise InvalidInput(
            f"role must be one of owner, editor, viewer, not {role!r}", "role"
        ) from None
    if db.session.scalar(select(User).where(User.email == email)):
        raise Conflict(f"an account for {email} exists already")
    user = User(email=email, password_hash=_hasher.hash(password), role=user_role)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user whose address and password match, else ``None``."""
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
    return user


def set_timezone(user: User, timezone: str) -> None:
    """Set the zone the panel shows this organiser's times in."""
    user.timezone = zone_named(timezone).key
    db.session.commit()
