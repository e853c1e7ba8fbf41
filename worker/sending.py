"""The per-batch send loop: claim, re-check, render, send, record — one row at a time."""

from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.models import Campaign, DeliveryStatus
from app.models.base import utcnow
from app.services import composing, ledger
from emails.errors import RenderError
from worker.smtp import Outcome, connection_for

_STATUS = {
    Outcome.SENT: DeliveryStatus.SENT,
    Outcome.PERMANENT: DeliveryStatus.FAILED_PERM,
    Outcome.POLICY: DeliveryStatus.FAILED_PERM,
    Outcome.UNKNOWN: DeliveryStatus.UNKNOWN,
}


def send_range(campaign_id: int, first_id: int, last_id: int) -> int:
    """Send every claimable row of a campaign between two ledger ids; return how many sent."""
    if not ledger.campaign_is_sending(campaign_id):
        return 0
    claimed = ledger.claim(ledger.Batch(campaign_id, first_id, last_id))
    if not claimed:
        return 0
    campaign = db.session.get(Campaign, campaign_id)
    factory = composing.factory_for(campaign)
    started_at = campaign.started_at
    connection = connection_for(current_app.config["SMTP_URL"])
    sent = 0
    for row in claimed:
        if not ledger.campaign_is_sending(campaign_id):
            ledger.release([r.delivery_id for r in claimed if r.delivery_id >= row.delivery_id])
            break
        recipient = ledger.recipient_if_mailable(campaign_id, row.subscriber_id)
        try:
            message = factory.build(recipient, utcnow()) if recipient else None
        except RenderError as exc:
            ledger.record(row.delivery_id, DeliveryStatus.FAILED_PERM, reply=f"template: {exc}")
            continue
        if message is None:
            ledger.record(
                row.delivery_id,
                DeliveryStatus.SKIPPED,
                reply="not subscribed or no variant at send time",
            )
            continue
        result = connection.send(message.envelope_from, message.recipient, message.data)
        if result.outcome is Outcome.RETRY:
            ledger.record_retry(row.delivery_id, row.attempts, started_at, result.reply)
            continue
        ledger.record(
            row.delivery_id,
            _STATUS[result.outcome],
            reply=result.reply,
            language=message.language,
            message_id=message.message_id,
        )
        sent += result.outcome is Outcome.SENT
    return sent
