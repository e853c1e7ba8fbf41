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
from sqlalchemy import Row, select

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


def _sent(message_ids: Iterable[str]) -> Row[int, int, int, str] | None:
    """The delivery (id, campaign, subscriber id and address) of one of these Message-IDs."""
    wanted = [m for m in message_ids if m]
    if not wanted:
        return None
    return db.session.execute(
        select(Delivery.id, Delivery.campaign_id, Subscriber.id, Subscriber.email)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.message_id.in_(wanted))
        .limit(1)
    ).one_or_none()


def _address(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidInput:
        return value.strip().lower()


def attribute(finding: Finding, *, trusted: bool, domains: list[str]) -> Target | str:
    """The delivery a finding is about, or the reason there is none (a string)."""
    sent = None
    if finding.verp:
        sent = _sent(f"<{finding.verp}@{domain}>" for domain in domains)
    if sent is None and finding.message_id:
        sent = _sent([finding.message_id.strip()])
    named = {_address(a) for a in (finding.address, finding.original_address) if a}
    if sent is not None:
        delivery_id, campaign_id, subscriber_id, email = sent
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


def apply(
    finding: Finding,
    *,
    source: str,
    trusted: bool,
    domains: list[str],
    inbound_id: int | None = None,
) -> Applied:
    """Apply one finding; the caller commits."""
    if finding.said is Said.UNSUBSCRIBE:
        return _unsubscribe(finding, source, inbound_id)
    target = attribute(finding, trusted=trusted, domains=domains)
    if isinstance(target, str):
        return Applied(False, f"{finding.said} report ignored: {target}")
    kind = kind_of(finding)
    if target.delivery_id is not None and db.session.scalar(
        select(ReturnEvent.id).where(
            ReturnEvent.subscriber_id == target.subscriber_id,  # by its index
            ReturnEvent.delivery_id == target.delivery_id,
            ReturnEvent.kind == kind,
        )
    ):
        return Applied(False, f"{kind} for {target.email} already recorded for that message")
    recorded = bounces.record(
        db.session.connection(),
        target.subscriber_id,
        kind,
        source=source,
        scoring=bounces.Scoring.of(current_app.config),
        status_code=finding.status,
        diagnostic=finding.diagnostic,
        campaign_id=target.campaign_id,
        delivery_id=target.delivery_id,
        inbound_id=inbound_id,
        details={
            key: value
            for key, value in (
                ("reader", finding.reader),
                ("action", finding.action),
                ("address", finding.address),
            )
            if value
        },
    )
    what = f"{kind} {finding.status}".strip()
    if recorded.suppressed:
        return Applied(True, f"{what} for {target.email}: suppressed")
    if kind is ReturnKind.SOFT:
        return Applied(True, f"{what} for {target.email}: score {recorded.score:.2f}")
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
