"""Celery tasks: thin, carrying ids only; the work is in services and ``worker.sending``."""

from __future__ import annotations

from app.services import ledger
from worker import celery
from worker.sending import send_range


@celery.task(acks_late=True, reject_on_worker_lost=True)
def deliver_batch(campaign_id: int, first_id: int, last_id: int) -> None:
    """Send every claimable delivery of a campaign between two ledger ids."""
    send_range(campaign_id, first_id, last_id)


@celery.task
def dispatch_deliveries() -> None:
    """Turn the ledger's intent into batch tasks (runs on beat every few seconds)."""
    for batch in ledger.dispatch():
        deliver_batch.delay(batch.campaign_id, batch.first_id, batch.last_id)
