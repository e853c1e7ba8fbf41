"""The suppression list: addresses never to be mailed again, kept as keyed hashes."""

from __future__ import annotations

from sqlalchemy import Connection, select

from app.database import insert_or_ignore
from app.extensions import db
from app.models import Suppression, SuppressionReason
from app.models.base import utcnow
from app.services.tokens import tokens


def suppress_hash(
    connection: Connection, email_hash: str, reason: SuppressionReason, note: str = ""
) -> None:
    """Suppress an address hash (idempotent, also between workers); the caller commits."""
    connection.execute(
        insert_or_ignore(Suppression.__table__, connection).values(
            email_hash=email_hash, reason=reason.value, note=note[:1000], created_at=utcnow()
        )
    )


def is_suppressed(email: str) -> bool:
    """Return whether an address is on the suppression list."""
    email_hash = tokens().email_hash(email)
    return (
        db.session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash))
        is not None
    )
