"""Celery tasks: thin, carrying ids only; the work is in services and ``worker.sending``."""

from __future__ import annotations

from app.services import campaigns, ledger, outbox
from worker import celery
from worker.outbox import send_outbox
from worker.sending import send_range


@celery.task(acks_late=True, reject_on_worker_lost=True)
def deliver_batch(campaign_id: int, first_id: int, last_id: int) -> None:
    """Send every claimable delivery of a campaign between two ledger ids."""
    send_range(campaign_id, first_id, last_id)


@celery.task(acks_late=True, reject_on_worker_lost=True)
def deliver_outbox(row_ids: list[int]) -> None:
    """Send one-off messages (test sends) whose rows the dispatcher claimed."""
    send_outbox(row_ids)


@celery.task
def dispatch_deliveries() -> None:
    """Start scheduled campaigns that are due, then turn the ledger's and the outbox's intent
    into tasks (runs on beat every few seconds)."""
    campaigns.start_due()
    if row_ids := outbox.claim_due():
        deliver_outbox.delay(row_ids)
    for batch in ledger.dispatch():
        deliver_batch.delay(batch.campaign_id, batch.first_id, batch.last_id)
