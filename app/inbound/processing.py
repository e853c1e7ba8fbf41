"""The worker's side of the return path: read each claimed inbound message into findings,
apply them, and say on the message what came of it.

A claimed batch is read and applied in one transaction, with a few queries for the whole
batch (``applying.apply_all``). If anything in it fails, the batch is rolled back and its
messages are applied again one transaction each, so one bad message is marked ``failed``
with the reason and never stops the others, nor crashes the worker.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.addresses import bounce_domain
from app.extensions import db
from app.inbound import applying, parsing, providers
from app.inbound.findings import Finding
from app.inbound.intake import PROVIDERS
from app.models import InboundMessage, InboundStatus
from app.models.base import utcnow

log = logging.getLogger(__name__)

NOTHING = "nothing in it reads as a bounce, a complaint or an unsubscribe"


def findings_of(message: InboundMessage, domain: str) -> list[Finding]:
    """What a stored message says: a mail's reports (``domain``: the bounce domain), or a
    provider body's events."""
    if message.source in PROVIDERS:
        return providers.read_event(message.source, message.raw)
    return parsing.read_mail(message.raw, message.recipients, domain)


def process(ids: list[int]) -> None:
    """Process claimed inbound messages: the batch in one transaction, or, when something
    in it fails, one by one."""
    domains = applying.message_domains()
    try:
        process_batch(ids, domains)
        db.session.commit()
        return
    except Exception:
        db.session.rollback()
        log.warning("an inbound batch failed; its messages are processed one by one")
    for message_id in ids:
        try:
            process_batch([message_id], domains)
            db.session.commit()
        except Exception as exc:  # one bad message must not stop the rest
            db.session.rollback()
            log.exception("inbound message #%s could not be processed", message_id)
            _finish([_outcome(message_id, InboundStatus.FAILED, f"could not be processed: {exc}")])
            db.session.commit()


def process_batch(ids: list[int], domains: list[str]) -> None:
    """Read and apply claimed messages and mark what came of each; the caller commits."""
    messages = db.session.scalars(
        select(InboundMessage)
        .where(InboundMessage.id.in_(ids), InboundMessage.status == InboundStatus.CLAIMED)
        .order_by(InboundMessage.id)
    ).all()
    domain = bounce_domain(current_app.config)
    entries: list[applying.Entry] = []
    for message in messages:
        trusted = message.source in PROVIDERS
        entries += [
            applying.Entry(finding, message.source, trusted, message.id)
            for finding in findings_of(message, domain)
        ]
    applied = applying.apply_all(entries, domains)
    notes: dict[int, list[applying.Applied]] = {message.id: [] for message in messages}
    for entry, result in zip(entries, applied, strict=True):
        notes[entry.inbound_id or 0].append(result)
        if not result.changed:
            log.warning("inbound message #%s: %s", entry.inbound_id, result.note)
    outcomes = []
    for message in messages:
        results = notes[message.id]
        if not results:
            log.warning("inbound message #%s (%s): %s", message.id, message.source, NOTHING)
        changed = any(r.changed for r in results)
        status = InboundStatus.APPLIED if changed else InboundStatus.IGNORED
        text = "; ".join(r.note for r in results) or NOTHING
        outcomes.append(_outcome(message.id, status, text))
    _finish(outcomes)


def _outcome(message_id: int, status: InboundStatus, outcome: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "status": status,
        "outcome": outcome[:4000],
        "lease_until": None,
        "processed_at": utcnow(),
    }


def _finish(outcomes: list[dict[str, Any]]) -> None:
    """Say what came of each message, in the transaction of what it changed."""
    if outcomes:
        db.session.execute(update(InboundMessage), outcomes)
