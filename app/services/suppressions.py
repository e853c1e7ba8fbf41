"""The suppression list: addresses never to be mailed again, kept as keyed hashes."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from app.database import insert_or_ignore
from app.errors import InvalidInput
from app.extensions import db
from app.models import BlockedDomain, Subscriber, SubscriberStatus, Suppression, SuppressionReason
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


def domain_of(email: str) -> str:
    """The domain part of an address, lower-cased."""
    return email.rpartition("@")[2].lower()


def is_blocked_domain(email: str) -> bool:
    """Whether the address's domain is on the blocked list."""
    domain = domain_of(email)
    return (
        db.session.scalar(select(BlockedDomain.id).where(BlockedDomain.domain == domain))
        is not None
    )


def is_blocked(email: str) -> bool:
    """Whether an address may never be mailed: suppressed, or at a blocked domain."""
    return is_suppressed(email) or is_blocked_domain(email)


def block_domain(domain: str, reason: str = "") -> int:
    """Block a domain: no import or sign-up takes its addresses, and its subscribers become
    blocklisted at once (so sends skip them with no extra check per message). Returns how
    many subscribers were blocklisted. Unblocking later does not reactivate them."""
    domain = domain.strip().lower().lstrip("@")
    if not domain or "." not in domain or any(c.isspace() for c in domain) or "@" in domain:
        raise InvalidInput(f"{domain!r} is not a domain such as example.org", "domain")
    db.session.execute(
        insert_or_ignore(BlockedDomain.__table__).values(
            domain=domain, reason=reason[:1000], created_at=utcnow()
        )
    )
    blocked = db.session.execute(
        update(Subscriber)
        .where(
            Subscriber.email.endswith(f"@{domain}"), Subscriber.status == SubscriberStatus.ACTIVE
        )
        .values(status=SubscriberStatus.BLOCKLISTED)
    ).rowcount
    db.session.commit()
    return blocked


def unblock_domain(domain: str) -> None:
    """Take a domain off the blocked list (its blocklisted subscribers stay blocklisted)."""
    db.session.execute(delete(BlockedDomain).where(BlockedDomain.domain == domain.strip().lower()))
    db.session.commit()
