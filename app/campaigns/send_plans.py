"""What a send or schedule will do, shown before it happens, and starting it only as shown.

``summarise`` gathers who gets which language (with fallbacks and held readers), the lists,
the sender, the SMTP servers and the total, and a token: a digest of everything that decides
who gets what. ``confirm_send`` and ``confirm_schedule`` start the campaign only when the
plan computed now has the token the organiser confirmed; otherwise they raise
``PlanChanged`` with the new plan, and nothing is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from flask import current_app
from sqlalchemy import func, select

from app.campaigns import drafts, lifecycle, readiness
from app.delivery import ledger
from app.errors import Conflict
from app.extensions import db
from app.mailservers import failover_order, parse_smtp_servers
from app.models import Campaign, Subscriber


@dataclass(frozen=True)
class PlanRow:
    """The recipients who speak one language, and what they get."""

    language: str
    recipients: int
    gets: str | None
    falls_back: bool
    held: bool  # their variant is not ready and the organiser chose to hold them
    intended: str | None


@dataclass(frozen=True)
class SendPlan:
    """Everything the organiser confirms before a campaign starts."""

    campaign_id: int
    name: str
    rows: list[PlanRow]
    lists: list[str]
    sender: str
    servers: list[str]  # "name (host:port)", in the order they are tried; never credentials
    not_ready: str
    token: str

    @property
    def total(self) -> int:
        """Everyone in the audience, held readers included."""
        return sum(row.recipients for row in self.rows)

    @property
    def held(self) -> int:
        """Readers held back because their variant is not ready: a skipped row, no mail."""
        return sum(row.recipients for row in self.rows if row.held)

    @property
    def to_send(self) -> int:
        """How many messages go out."""
        return self.total - self.held


class _Shown(TypedDict):
    """The plan's fields beside its rows, which its token covers too."""

    lists: list[str]
    sender: str
    servers: list[str]
    not_ready: str


class PlanChanged(Conflict):
    """The audience or the campaign changed since the plan was shown; carries the new one."""

    def __init__(self, plan: SendPlan) -> None:
        super().__init__(
            "the audience or the variants changed since the summary was shown: "
            "nothing was sent; check the new summary"
        )
        self.plan = plan


def summarise(campaign_id: int, not_ready: str | None = None) -> SendPlan:
    """Return the plan of starting the campaign now, or raise why it cannot start."""
    campaign = drafts.editable(campaign_id)
    plan, held = readiness.check_sendable(campaign, not_ready)
    rows = [
        PlanRow(r.language, r.recipients, r.gets, r.falls_back, r.language in held, r.intended)
        for r in plan
    ]
    servers = parse_smtp_servers(current_app.config["SMTP_URL"])
    if campaign.smtp_server:
        servers = failover_order(servers, campaign.smtp_server)
    else:  # the order is drawn by weight per batch: show them by weight, then name
        servers = sorted((s for s in servers if s.weight > 0), key=lambda s: (-s.weight, s.name))
    fields: _Shown = {
        "lists": sorted(m.name for m in campaign.lists),
        "sender": campaign.from_address or str(current_app.config["MAIL_FROM"]),
        "servers": [f"{s.name} ({s.host}:{s.port})" for s in servers],
        "not_ready": not_ready or "",
    }
    token = _digest(campaign, rows, fields)
    return SendPlan(campaign.id, campaign.name, rows, token=token, **fields)


def _digest(campaign: Campaign, rows: list[PlanRow], fields: Mapping[str, object]) -> str:
    """A digest of what decides who gets what: audience, variants, layout, sender, servers."""
    count, ids = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Subscriber.id), 0)).where(
            ledger.audience_of(campaign)
        )
    ).one()
    variants = sorted(
        (v.language, v.ready, v.subject, v.preheader, v.body, v.body_format.value)
        for v in campaign.variants
    )
    template = campaign.template
    facts = {
        "campaign": campaign.id,
        "audience": [count, int(ids)],
        "rows": [[r.language, r.recipients, r.gets, r.held] for r in rows],
        "variants": variants,
        "default": campaign.default_language,
        "fallbacks": campaign.fallbacks or [],
        "layout": [template.id, template.html] if template else None,
        **fields,
    }
    encoded = json.dumps(facts, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _unchanged(campaign_id: int, not_ready: str | None, token: str) -> None:
    plan = summarise(campaign_id, not_ready)
    if plan.token != token:
        raise PlanChanged(plan)


def confirm_send(campaign_id: int, not_ready: str | None, token: str) -> int:
    """Start sending now if the plan is still the one confirmed; return the count."""
    _unchanged(campaign_id, not_ready, token)
    return lifecycle.start_sending(campaign_id, not_ready)


def confirm_schedule(
    campaign_id: int, local_time: datetime, timezone: str, not_ready: str | None, token: str
) -> datetime:
    """Schedule the start if the plan is still the one confirmed; return the UTC time."""
    lifecycle.start_time(local_time, timezone)  # a time gone by is refused before the plan
    _unchanged(campaign_id, not_ready, token)
    return lifecycle.schedule(campaign_id, local_time, timezone, not_ready)
