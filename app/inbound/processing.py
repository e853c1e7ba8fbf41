"""The worker's side of the return path: read each claimed inbound message into findings,
apply them, and say on the message what came of it.

A claimed batch is applied in one transaction. If anything in it fails, the batch is rolled
back and its messages are applied again one transaction each, so one bad message is marked
``failed`` with the reason and never stops the others, nor crashes the worker.
"""

from __future__ import annotations

import logging

from flask import current_app

from app.extensions import db
from app.inbound import applying, parsing, providers
from app.inbound.findings import Finding
from app.inbound.intake import PROVIDERS
from app.inbound.routes import bounce_domain
from app.models import InboundMessage, InboundStatus
from app.models.base import utcnow

log = logging.getLogger(__name__)


def findings_of(message: InboundMessage) -> list[Finding]:
    """What a stored message says: a mail's reports, or a provider body's events."""
    if message.source in PROVIDERS:
        return providers.read_event(message.source, message.raw)
    return parsing.read_mail(message.raw, message.recipients, bounce_domain(current_app.config))


def process(ids: list[int]) -> None:
    """Process claimed inbound messages: the batch in one transaction, or, when something
    in it fails, one by one."""
    domains = applying.message_domains()
    try:
        for message_id in ids:
            process_one(message_id, domains)
        db.session.commit()
        return
    except Exception:
        db.session.rollback()
        log.warning("an inbound batch failed; its messages are processed one by one")
    for message_id in ids:
        try:
            process_one(message_id, domains)
            db.session.commit()
        except Exception as exc:  # one bad message must not stop the rest
            db.session.rollback()
            log.exception("inbound message #%s could not be processed", message_id)
            _finish(message_id, InboundStatus.FAILED, f"could not be processed: {exc}"[:1000])
            db.session.commit()


def process_one(message_id: int, domains: list[str]) -> None:
    """Apply one claimed message and mark what came of it; the caller commits."""
    message = db.session.get(InboundMessage, message_id)
    if message is None or message.status != InboundStatus.CLAIMED:
        return
    source, trusted = message.source, message.source in PROVIDERS
    findings = findings_of(message)
    notes: list[str] = []
    changed = False
    for finding in findings:
        applied = applying.apply(
            finding, source=source, trusted=trusted, domains=domains, inbound_id=message_id
        )
        changed = changed or applied.changed
        notes.append(applied.note)
        if not applied.changed:
            log.warning("inbound message #%s: %s", message_id, applied.note)
    if not findings:
        notes.append("nothing in it reads as a bounce, a complaint or an unsubscribe")
        log.warning("inbound message #%s (%s): %s", message_id, source, notes[-1])
    status = InboundStatus.APPLIED if changed else InboundStatus.IGNORED
    _finish(message_id, status, "; ".join(notes)[:4000])


def _finish(message_id: int, status: InboundStatus, outcome: str) -> None:
    """Say what came of a message, in the transaction of what it changed."""
    message = db.session.get(InboundMessage, message_id)
    if message is None:
        return
    message.status, message.outcome = status, outcome
    message.lease_until, message.processed_at = None, utcnow()
