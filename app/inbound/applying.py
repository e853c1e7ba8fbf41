"""Acting on what came back: attribute each finding to a delivery we sent, then apply the
rules of ``app.audience.bounces`` (or leave the list, for a mailto unsubscribe).

Attribution is by what only our own mail carries: the VERP token of the ``bounces+TOKEN@``
address it came back to, else the Message-ID the report quotes (both keyed hashes nobody
can guess). An address alone attributes nothing, except in a provider's event whose
signature was verified. When a bounce names a recipient, it must be the address that
message went to: a bounce that names someone else's address changes nothing (a complaint's
address is often masked by the feedback loop, so for complaints the token decides). Whatever is
not applied is logged with the reason, and kept on the inbound message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import select

from app.addresses import normalize_email
from app.audience import bounces, subscriptions
from app.errors import InvalidInput
from app.extensions import db
from app.inbound.findings import Finding, Said
from app.models import Campaign, Delivery, ReturnEvent, ReturnKind, Subscriber
from app.tokens import InvalidToken, tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    changed: bool
    note: str  # for people: what was done, or why nothing was


@dataclass(frozen=True)
class Target:
    subscriber_id: int
    email: str
    campaign_id: int | None
    delivery_id: int | None


def message_domains() -> list[str]:
    """The domains our Message-IDs can carry: TOCSIN_FROM's and every campaign sender's."""
    domains = {parseaddr(str(current_app.config.get("MAIL_FROM", "")))[1].rpartition("@")[2]}
    for sender in db.session.scalars(select(Campaign.from_address).distinct()):
        domains.add(parseaddr(sender or "")[1].rpartition("@")[2])
    return sorted(d.lower() for d in domains if d)


Sent = tuple[int, int, int, str]  # delivery id, campaign id, subscriber id, address


def sent_messages(findings: Iterable[Finding], domains: list[str]) -> dict[str, Sent]:
    """Our deliveries that these findings' VERP tokens and Message-IDs name, by Message-ID:
    one query for a whole batch."""
    wanted: set[str] = set()
    for finding in findings:
        wanted.update(f"<{finding.verp}@{domain}>" for domain in domains if finding.verp)
        if finding.message_id:
            wanted.add(finding.message_id.strip())
    found: dict[str, Sent] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 500):
        rows = db.session.execute(
            select(
                Delivery.message_id,
                Delivery.id,
                Delivery.campaign_id,
                Subscriber.id,
                Subscriber.email,
            )
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.message_id.in_(ordered[start : start + 500]))
        )
        found.update({row[0]: (row[1], row[2], row[3], row[4]) for row in rows if row[0]})
    return found


def _address(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidInput:
        return value.strip().lower()


def attribute(
    finding: Finding, *, trusted: bool, domains: list[str], sent: dict[str, Sent]
) -> Target | str:
    """The delivery a finding is about (looked up in ``sent_messages``), or the reason there
    is none (a string)."""
    candidates = [f"<{finding.verp}@{domain}>" for domain in domains] if finding.verp else []
    candidates.append(finding.message_id.strip())
    found = next((sent[m] for m in candidates if m in sent), None)
    named = {_address(a) for a in (finding.address, finding.original_address) if a}
    if found is not None:
        delivery_id, campaign_id, subscriber_id, email = found
        # A bounce must name the address that message went to. A complaint need not:
        # feedback loops mask or hash the address ("redacted@…"), and whoever pressed
        # "spam", our mail went to this subscriber.
        if named and _address(email) not in named and finding.said is not Said.COMPLAINT:
            return f"it names {', '.join(sorted(named))}, not the address that message went to"
        return Target(subscriber_id, email, campaign_id, delivery_id)
    if trusted and named:
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email.in_(named)))
        if subscriber is None:
            return f"no subscriber {', '.join(sorted(named))}"
        latest = db.session.execute(
            select(Delivery.id, Delivery.campaign_id)
            .where(Delivery.subscriber_id == subscriber.id)
            .order_by(Delivery.id.desc())
            .limit(1)
        ).one_or_none()
        return Target(
            subscriber.id,
            subscriber.email,
            latest.campaign_id if latest else None,
            latest.id if latest else None,
        )
    if finding.verp or finding.message_id:
        return "its VERP token or Message-ID matches no message we sent"
    return "no VERP token or Message-ID of ours to tell whose it is"


def kind_of(finding: Finding) -> ReturnKind:
    """The rule a finding falls under: a complaint, or a failure judged by its status code
    (a heuristic reader's verdict alone never makes a hard bounce)."""
    if finding.said is Said.COMPLAINT:
        return ReturnKind.COMPLAINT
    if finding.said is Said.UNSUBSCRIBE:
        return ReturnKind.UNSUBSCRIBE
    return bounces.judge(finding.status) if finding.status else ReturnKind.SOFT


@dataclass(frozen=True)
class Entry:
    """One finding of one inbound message, to apply."""

    finding: Finding
    source: str
    trusted: bool  # a provider's event whose signature was checked
    inbound_id: int | None = None


def apply_all(entries: list[Entry], domains: list[str]) -> list[Applied]:
    """Apply a batch's findings, in order, with a few queries for the whole batch; the caller
    commits. A report for a message and kind already recorded (a replay, a second copy, in
    this batch or before) changes nothing."""
    results: list[Applied | None] = [None] * len(entries)
    sent = sent_messages((e.finding for e in entries), domains)
    pending: list[tuple[int, Target, ReturnKind]] = []
    for index, entry in enumerate(entries):
        if entry.finding.said is Said.UNSUBSCRIBE:
            results[index] = _unsubscribe(entry.finding, entry.source, entry.inbound_id)
            continue
        target = attribute(entry.finding, trusted=entry.trusted, domains=domains, sent=sent)
        if isinstance(target, str):
            results[index] = Applied(False, f"{entry.finding.said} report ignored: {target}")
        else:
            pending.append((index, target, kind_of(entry.finding)))
    seen = _recorded({t.subscriber_id for _, t, _ in pending})
    chosen: list[tuple[int, Target, bounces.Return]] = []
    for index, target, kind in pending:
        if target.delivery_id is not None and (target.delivery_id, kind) in seen:
            note = f"{kind} for {target.email} already recorded for that message"
            results[index] = Applied(False, note)
            continue
        seen.add((target.delivery_id, kind))
        chosen.append((index, target, _return(entries[index], target, kind)))
    recorded = bounces.record_all(
        db.session.connection(),
        [item for _, _, item in chosen],
        scoring=bounces.Scoring.of(current_app.config),
    )
    for (index, target, item), done in zip(chosen, recorded, strict=True):
        results[index] = _applied(item, target, done)
    return [r for r in results if r is not None]


def _recorded(subscriber_ids: set[int]) -> set[tuple[int | None, ReturnKind]]:
    """The (delivery, kind) pairs already recorded for these subscribers (by their index)."""
    if not subscriber_ids:
        return set()
    rows = db.session.execute(
        select(ReturnEvent.delivery_id, ReturnEvent.kind).where(
            ReturnEvent.subscriber_id.in_(sorted(subscriber_ids)),
            ReturnEvent.delivery_id.is_not(None),
        )
    )
    return {(delivery_id, kind) for delivery_id, kind in rows}


def _return(entry: Entry, target: Target, kind: ReturnKind) -> bounces.Return:
    finding = entry.finding
    details = {
        key: value
        for key, value in (
            ("reader", finding.reader),
            ("action", finding.action),
            ("address", finding.address),
        )
        if value
    }
    return bounces.Return(
        target.subscriber_id,
        kind,
        entry.source,
        status_code=finding.status,
        diagnostic=finding.diagnostic,
        campaign_id=target.campaign_id,
        delivery_id=target.delivery_id,
        inbound_id=entry.inbound_id,
        details=details,
    )


def _applied(item: bounces.Return, target: Target, done: bounces.Recorded) -> Applied:
    what = f"{item.kind} {item.status_code}".strip()
    if done.suppressed:
        return Applied(True, f"{what} for {target.email}: suppressed")
    if item.kind is ReturnKind.SOFT:
        return Applied(True, f"{what} for {target.email}: score {done.score:.2f}")
    return Applied(True, f"{what} for {target.email}: recorded")


def _unsubscribe(finding: Finding, source: str, inbound_id: int | None) -> Applied:
    """A mailto unsubscribe: the token leaves that campaign's lists, like the one-click POST."""
    if not finding.token:
        return Applied(False, "mailto unsubscribe without a token: ignored")
    try:
        _, campaign_uid = tokens().read_unsubscribe(finding.token)
        target = subscriptions.leave(finding.token)
    except InvalidToken:
        return Applied(False, "mailto unsubscribe with a token that is not ours: ignored")
    campaign_id = db.session.scalar(select(Campaign.id).where(Campaign.uid == campaign_uid))
    bounces.record(
        db.session.connection(),
        target.subscriber.id,
        ReturnKind.UNSUBSCRIBE,
        source=source,
        scoring=bounces.Scoring.of(current_app.config),
        campaign_id=campaign_id,
        inbound_id=inbound_id,
        details={"lists": [m.slug for m in target.lists]},
    )
    lists = ", ".join(m.slug for m in target.lists)
    return Applied(True, f"{target.subscriber.email} left {lists} by a mailto unsubscribe")
