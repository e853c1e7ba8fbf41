"""One-off messages through the worker: test sends and system emails.

The panel and the CLI write rows; the dispatcher claims due rows with a lease and hands
their ids to a task; the task builds each message, sends it and records the reply. A
temporary failure is tried again a few times, then the row says why it failed. A system
email whose address was suppressed or whose domain was blocked after it was queued is
dropped right before sending; an erasure deletes the person's system emails.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from app.addresses import normalize_email
from app.errors import InvalidInput, NoSuch, Required, TooMany
from app.extensions import db
from app.messages import system_emails
from app.messages.composing import MessageFactory, Outgoing
from app.messages.previews import sample_recipient
from app.models import Campaign, OutboxKind, OutboxMessage, OutboxStatus
from app.models.base import utcnow
from app.tokens import HashKeyMismatch, hasher
from emails.errors import RenderError

MAX_TEST_ADDRESSES = 20
MAX_ATTEMPTS = 3
LEASE = timedelta(minutes=2)
CLAIM_LIMIT = 50


def queue_test_sends(campaign: Campaign, addresses: list[str], languages: list[str]) -> int:
    """Queue the campaign's ``languages`` (all variants when empty) to each address."""
    cleaned = []
    for address in addresses:
        if address.strip():
            cleaned.append(normalize_email(address))
    if not cleaned:
        raise Required("addresses", message="give at least one address to send the test to")
    if len(set(cleaned)) > MAX_TEST_ADDRESSES:
        raise TooMany(
            "addresses",
            "addresses",
            MAX_TEST_ADDRESSES,
            message=f"test sends go to at most {MAX_TEST_ADDRESSES} addresses",
        )
    written = [v.language for v in campaign.variants]
    chosen = languages or written
    if missing := [language for language in chosen if language not in written]:
        raise NoSuch(
            "languages",
            "variant",
            ", ".join(missing),
            message=f"the campaign has no {', '.join(missing)} variant",
        )
    for address in dict.fromkeys(cleaned):
        for language in dict.fromkeys(chosen):
            db.session.add(
                OutboxMessage(
                    kind=OutboxKind.TEST,
                    to_address=address,
                    language=language,
                    campaign_id=campaign.id,
                )
            )
    db.session.commit()
    return len(set(cleaned)) * len(set(chosen))


# Payload keys that are not template values: the list's default language, and the lists a
# confirmation names (a held one gathers the lists signed up for meanwhile).
LIST_LANGUAGE = "list_language"
LIST_IDS = "list_ids"


def queue_system_email(
    kind: OutboxKind,
    to_address: str,
    language: str,
    values: dict[str, str],
    list_language: str | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Queue a system email (confirm, goodbye); ``values`` fill its template; the wording
    falls back to ``list_language`` (the list's default) before English; it is not sent
    before ``not_before``. The caller commits, so the message is queued exactly when the
    change that causes it lands."""
    payload = {**values, LIST_LANGUAGE: list_language} if list_language else values
    row = OutboxMessage(
        kind=kind, to_address=to_address, language=language, payload=payload, not_before=not_before
    )
    db.session.add(row)
    return row


def confirmations_to(to_address: str) -> tuple[set[int], OutboxMessage | None]:
    """The lists the latest confirmation to this address named (sent or on its way), and
    the confirmation held for later, if there is one."""
    latest = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == OutboxKind.CONFIRM, OutboxMessage.to_address == to_address)
        .order_by(OutboxMessage.id.desc())
        .limit(2)
    ).all()
    held = next((m for m in latest if m.not_before and m.status is OutboxStatus.QUEUED), None)
    asked = next((m for m in latest if m is not held), None)
    return set(asked.payload.get(LIST_IDS, [])) if asked else set(), held


def recent(campaign_id: int, limit: int = 20) -> list[OutboxMessage]:
    """The campaign's latest test sends, newest first, with what became of them."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.campaign_id == campaign_id)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def claim_due(now: datetime | None = None, limit: int = CLAIM_LIMIT) -> list[int]:
    """Take a lease on queued rows (and rows whose lease lapsed); return their ids. Nothing
    is taken while the hash key is not the database's: the rows wait (the error is logged)."""
    try:
        hasher()  # the last look before sending checks suppressions by hash
    except HashKeyMismatch:
        db.session.rollback()
        return []
    now = now or utcnow()
    lapsed = and_(OutboxMessage.status == OutboxStatus.CLAIMED, OutboxMessage.lease_until < now)
    # A row whose worker died while sending it, every time, is given up on, not retried forever.
    db.session.execute(
        update(OutboxMessage)
        .where(lapsed, OutboxMessage.attempts >= MAX_ATTEMPTS)
        .values(
            status=OutboxStatus.FAILED,
            lease_until=None,
            reply="gave up: the worker stopped while sending it, every time",
        )
    )
    waiting = or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)
    due = or_(and_(OutboxMessage.status == OutboxStatus.QUEUED, waiting), lapsed)
    ids = list(
        db.session.scalars(
            select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(limit)
        )
    )
    if not ids:
        return []
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), due)
        .values(
            status=OutboxStatus.CLAIMED,
            lease_until=now + LEASE,
            attempts=OutboxMessage.attempts + 1,
        )
    )
    db.session.commit()
    return list(
        db.session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.id.in_(ids), OutboxMessage.lease_until == now + LEASE
            )
        )
    )


@dataclass
class Prepared:
    row_id: int
    message: Outgoing | None
    problem: str = ""
    smtp_server: str | None = None


def prepare(row_ids: list[int], config: dict[str, Any]) -> list[Prepared]:
    """Build the messages of claimed rows (one compiled factory per campaign and language)."""
    factories: dict[tuple[int, str], MessageFactory] = {}
    prepared = []
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(row_ids)))
    for row in rows:
        if row.kind is not OutboxKind.TEST:
            try:
                kind = system_emails.kind_of(row.kind.value)
                values = dict(row.payload)
                list_language = values.pop(LIST_LANGUAGE, None)
                values.pop(LIST_IDS, None)
                message = system_emails.build(
                    kind, row.language, row.to_address, values, config, list_language
                )
            except (RenderError, InvalidInput) as exc:
                prepared.append(Prepared(row.id, None, f"cannot build the message: {exc}"))
            else:
                prepared.append(Prepared(row.id, message))
            continue
        campaign = db.session.get(Campaign, row.campaign_id) if row.campaign_id else None
        if campaign is None:
            prepared.append(Prepared(row.id, None, "the campaign was deleted"))
            continue
        key = (campaign.id, row.language)
        try:
            if key not in factories:
                factories[key] = MessageFactory(campaign, config, {row.language}, test=True)
            recipient = replace(sample_recipient(row.language), email=row.to_address)
            test_message = factories[key].build(recipient, utcnow())
        except Exception as exc:  # noqa: BLE001 - any build problem is recorded on the row
            prepared.append(Prepared(row.id, None, f"cannot build the message: {exc}"))
            continue
        if test_message is None:  # the variant is gone since the test send was asked for
            prepared.append(Prepared(row.id, None, f"the campaign has no {row.language} variant"))
            continue
        prepared.append(Prepared(row.id, test_message, smtp_server=campaign.smtp_server))
    return prepared


def forget_address(address: str) -> None:
    """Delete the system emails (confirm, goodbye) to an address, whatever became of them:
    they hold the address and the name. The caller commits."""
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.to_address == address, OutboxMessage.kind != OutboxKind.TEST
        )
    )


def record(row_id: int, *, sent: bool, reply: str, retry: bool = False) -> None:
    """Record what became of one row: sent, failed for good, or queued for another try."""
    row = db.session.get(OutboxMessage, row_id)
    if row is None:
        return
    if sent:
        row.status, row.sent_at = OutboxStatus.SENT, utcnow()
    elif retry and row.attempts < MAX_ATTEMPTS:
        row.status = OutboxStatus.QUEUED
    else:
        row.status = OutboxStatus.FAILED
    row.reply, row.lease_until = reply[:1000], None
    db.session.commit()
