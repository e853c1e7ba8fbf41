"""The suppression list: addresses never to be mailed again, kept as keyed hashes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from app.addresses import normalize_email
from app.database import insert_or_ignore, run_counted
from app.errors import InvalidInput, Malformed, NotFound, Required, member_of
from app.extensions import db
from app.models import BlockedDomain, Subscriber, SubscriberStatus, Suppression, SuppressionReason
from app.models.base import utcnow
from app.tokens import hasher


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
    email_hash = hasher().email_hash(email)
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


def normalize_domain(domain: str) -> str:
    """Return a domain as addresses are stored (``normalize_email``: IDNA ASCII
    form, lower case), so ``bücher.example`` is ``xn--bcher-kva.example``; raise a clear
    error when it is not a domain."""
    typed = domain.strip().removeprefix("@")
    problem = Malformed("domain", typed, "a domain such as example.org")
    if "." not in typed or "@" in typed or any(c.isspace() for c in typed):
        raise problem
    try:
        address = normalize_email(f"postmaster@{typed}")
    except InvalidInput:
        raise problem from None
    return domain_of(address)


def block_domain(domain: str, reason: str = "") -> int:
    """Block a domain (stored as addresses are: ``normalize_domain``): no import or sign-up
    takes its addresses, and its subscribers become blocklisted at once (so sends skip them
    with no extra check per message). Returns how many subscribers were blocklisted.
    Unblocking later does not reactivate them."""
    domain = normalize_domain(domain)
    db.session.execute(
        insert_or_ignore(BlockedDomain.__table__).values(
            domain=domain, reason=reason[:1000], created_at=utcnow()
        )
    )
    blocked = run_counted(
        update(Subscriber)
        .where(
            Subscriber.email.endswith(f"@{domain}"), Subscriber.status == SubscriberStatus.ACTIVE
        )
        .values(status=SubscriberStatus.BLOCKLISTED)
    )
    db.session.commit()
    _forget_counts()
    return blocked


def unblock_domain(domain: str) -> None:
    """Take a domain off the blocked list (its blocklisted subscribers stay blocklisted)."""
    db.session.execute(delete(BlockedDomain).where(BlockedDomain.domain == domain.strip().lower()))
    db.session.commit()


# --- The panel's suppression page ------------------------------------------------------------
# Suppressions are keyed hashes: the page shows reason, note and date, and works on an
# address only when the organiser types it. Removing one (or a blocked domain) needs a
# reason, written to the ``tocsin.audit`` log with the organiser and the hash, never the
# address; the row itself is gone, so there is nothing else to keep it in.

audit = logging.getLogger("tocsin.audit")
SUPPRESSIONS_PAGE = 50


def recent_suppressions(
    before_id: int | None = None, reason: str = "", limit: int = SUPPRESSIONS_PAGE
) -> list[Suppression]:
    """The newest suppressions first, ``limit`` at a time (keyset on id), maybe by reason."""
    statement = select(Suppression).order_by(Suppression.id.desc()).limit(limit)
    if reason:
        statement = statement.where(Suppression.reason == _reason(reason))
    if before_id:
        statement = statement.where(Suppression.id < before_id)
    return list(db.session.scalars(statement))


def _reason(value: str) -> SuppressionReason:
    return member_of(SuppressionReason, value, "reason")


@dataclass(frozen=True)
class AddressCheck:
    """Why an address may not be mailed: its suppression, its blocked domain, or neither."""

    address: str
    suppression: Suppression | None
    blocked_domain: BlockedDomain | None

    @property
    def blocked(self) -> bool:
        return self.suppression is not None or self.blocked_domain is not None


def check_address(email: str) -> AddressCheck:
    """Look an address up on the suppression list and the blocked domains."""
    address = normalize_email(email)
    suppression = db.session.scalar(
        select(Suppression).where(Suppression.email_hash == hasher().email_hash(address))
    )
    domain = db.session.scalar(
        select(BlockedDomain).where(BlockedDomain.domain == domain_of(address))
    )
    return AddressCheck(address, suppression, domain)


def suppress_address(email: str, note: str = "") -> bool:
    """Suppress an address by hand; blocklist its subscriber, if any. Return whether it was
    new to the list (an address suppressed already keeps its first reason)."""
    address = normalize_email(email)
    email_hash = hasher().email_hash(address)
    known = db.session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash))
    suppress_hash(db.session.connection(), email_hash, SuppressionReason.MANUAL, note.strip())
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.email == address, Subscriber.status == SubscriberStatus.ACTIVE)
        .values(status=SubscriberStatus.BLOCKLISTED)
    )
    db.session.commit()
    _forget_counts()
    return known is None


def unsuppress_address(email: str, reason: str, by: str = "") -> SuppressionReason:
    """Take an address off the suppression list, for a stated reason; return why it was on.

    Its subscriber stays blocklisted until an organiser makes them active again.
    """
    address = normalize_email(email)
    why = _required(reason)
    email_hash = hasher().email_hash(address)
    found = db.session.scalar(select(Suppression).where(Suppression.email_hash == email_hash))
    if found is None:
        raise NotFound(f"{address} is not on the suppression list")
    was = found.reason
    db.session.delete(found)
    db.session.commit()
    audit.info("suppression removed: hash=%s was=%s by=%s reason=%s", email_hash, was, by, why)
    return was


def _required(reason: str) -> str:
    why = " ".join(reason.split())
    if not why:
        raise Required("reason", message="say why (it is kept in the log)")
    return why[:1000]


def blocked_domains() -> list[BlockedDomain]:
    """Every blocked domain, by name."""
    return list(db.session.scalars(select(BlockedDomain).order_by(BlockedDomain.domain)))


def remove_blocked_domain(domain_id: int, reason: str, by: str = "") -> str:
    """Unblock a domain for a stated reason (logged); return the domain."""
    why = _required(reason)
    found = db.session.get(BlockedDomain, domain_id)
    if found is None:
        raise NotFound(f"no blocked domain with id {domain_id}")
    domain = found.domain
    unblock_domain(domain)
    audit.info("domain unblocked: %s by=%s reason=%s", domain, by, why)
    return domain


def _forget_counts() -> None:
    # Imported here: counts imports subscribers, which imports this module.
    from app.audience import counts

    counts.invalidate()
