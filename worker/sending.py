"""The per-batch send loop: claim, re-check, render, throttle, send, record — row by row."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import current_app

from app.errors import Conflict
from app.extensions import db
from app.models import Campaign, CampaignStatus, DeliveryStatus
from app.models.base import utcnow
from app.services import campaigns, composing, ledger, suppressions
from emails.errors import RenderError
from worker.smtp import (
    Outcome,
    Result,
    SmtpSettings,
    connection_to,
    failover_order,
    parse_smtp_servers,
)
from worker.throttle import Throttle, throttle_for, wait_for_slot

# When no server can be reached, the rest of the batch waits this long (uncounted).
UNREACHABLE_DELAY = 60.0

_STATUS = {
    Outcome.SENT: DeliveryStatus.SENT,
    Outcome.PERMANENT: DeliveryStatus.FAILED_PERM,
    Outcome.BOUNCE: DeliveryStatus.FAILED_PERM,
    Outcome.POLICY: DeliveryStatus.FAILED_PERM,
    Outcome.UNKNOWN: DeliveryStatus.UNKNOWN,
}


def send_range(campaign_id: int, first_id: int, last_id: int) -> int:
    """Send every claimable row of a campaign between two ledger ids; return how many sent."""
    if ledger.campaign_status(campaign_id) != CampaignStatus.SENDING:
        return 0
    claimed = ledger.claim(ledger.Batch(campaign_id, first_id, last_id))
    if not claimed:
        return 0
    campaign = db.session.get(Campaign, campaign_id)
    return BatchSender(campaign, current_app.config).run(claimed)


class BatchSender:
    """Sends one claimed batch; everything per campaign is prepared once, here."""

    def __init__(self, campaign: Campaign, config: dict[str, Any]) -> None:
        self.campaign_id = campaign.id
        self.factory = composing.MessageFactory(campaign, config)
        self.servers: list[SmtpSettings] = failover_order(
            parse_smtp_servers(config["SMTP_URL"]), campaign.smtp_server
        )
        self.throttle: Throttle = throttle_for(config["BROKER_URL"])

    def run(self, claimed: list[ledger.Claimed]) -> int:
        """Send the rows in order; stop at once when the campaign stops sending."""
        sent = 0
        for position, row in enumerate(claimed):
            check = ledger.recheck(self.campaign_id, row.subscriber_id)
            if check.campaign_status != CampaignStatus.SENDING:
                rest = [r.delivery_id for r in claimed[position:]]
                cancelled = check.campaign_status == CampaignStatus.CANCELLED
                ledger.release(rest, DeliveryStatus.SKIPPED if cancelled else DeliveryStatus.QUEUED)
                break
            result = self._send_one(row, check.recipient)
            if result is not None and result.unreachable:
                ledger.defer(
                    [r.delivery_id for r in claimed[position:]], UNREACHABLE_DELAY, result.reply
                )
                break
            sent += result is not None and result.outcome is Outcome.SENT
        return sent

    def _send_one(
        self, row: ledger.Claimed, recipient: composing.Recipient | None
    ) -> Result | None:
        if recipient is None:
            ledger.record(
                row.delivery_id, DeliveryStatus.SKIPPED, reply="no longer subscribed at send time"
            )
            return None
        try:
            message = self.factory.build(recipient, utcnow())
        except RenderError as exc:
            ledger.record(row.delivery_id, DeliveryStatus.FAILED_PERM, reply=f"template: {exc}")
            return None
        if message is None:
            ledger.record(
                row.delivery_id,
                DeliveryStatus.SKIPPED,
                reply=f"no ready variant for language {recipient.language}",
            )
            return None
        result = self._deliver(message)
        if not result.unreachable:
            self._record(row, message, result)
        return result

    def _deliver(self, message: composing.Outgoing) -> Result:
        """Send through the first server that answers, within its limits."""
        result = Result(Outcome.RETRY, "no SMTP server configured", True)
        for server in self.servers:
            wait_for_slot(self.throttle, server)
            result = connection_to(server).send(
                message.envelope_from, message.recipient, message.data
            )
            if not result.unreachable:
                return result
        return result

    def _record(self, row: ledger.Claimed, message: composing.Outgoing, result: Result) -> None:
        if result.outcome is Outcome.RETRY:
            ledger.record_retry(row, result.reply)
            return
        if result.outcome is Outcome.BOUNCE:
            suppressions.record_hard_bounce(row.subscriber_id, result.reply)
        ledger.record(
            row.delivery_id,
            _STATUS[result.outcome],
            reply=result.reply,
            language=message.language,
            message_id=message.message_id,
        )
        if result.outcome is Outcome.POLICY:
            # Conflict: another worker paused it first, or an organiser did.
            with contextlib.suppress(Conflict):
                campaigns.pause(
                    self.campaign_id, f"paused: the SMTP server refused by policy: {result.reply}"
                )
