"""Celery tasks: thin, carrying ids only; the work is in services and ``app.delivery.sending``."""

from __future__ import annotations

from app.audience import imports, subscriptions
from app.campaigns import lifecycle
from app.delivery import ledger
from app.delivery.outbox_sending import send_outbox
from app.delivery.sending import send_range
from app.inbound import intake, mailboxes, processing
from app.messages import outbox
from app.readers import fresh_links
from worker import celery


@celery.task(acks_late=True, reject_on_worker_lost=True)
def deliver_batch(campaign_id: int, first_id: int, last_id: int) -> None:
    """Send every claimable delivery of a campaign between two ledger ids."""
    send_range(campaign_id, first_id, last_id)


@celery.task(acks_late=True, reject_on_worker_lost=True)
def deliver_outbox(row_ids: list[int]) -> None:
    """Send one-off messages (test sends) whose rows the dispatcher claimed."""
    send_outbox(row_ids)


@celery.task(acks_late=True, reject_on_worker_lost=True)
def process_inbound(message_ids: list[int]) -> None:
    """Read and apply bounces, complaints and mailto unsubscribes the intakes stored."""
    processing.process(message_ids)


@celery.task
def poll_bounce_mailbox() -> None:
    """Store what the bounce mailbox holds in the inbound queue (when one is configured)."""
    mailboxes.poll_configured()


# A large file may take longer than a delivery batch's time limit.
@celery.task(acks_late=True, reject_on_worker_lost=True, time_limit=6 * 3600)
def run_import(job_id: int) -> None:
    """Import a claimed CSV job to the end (a worker that dies hands it to the next one,
    which starts it again from the top: importing is idempotent)."""
    imports.run(job_id)


@celery.task
def dispatch_deliveries() -> None:
    """Start scheduled campaigns that are due, forget old imports, apply public sign-ups
    (which queue their confirmation mails) and requests for fresh links, then turn the
    ledger's, the outbox's, the imports' and the return path's intent into tasks (runs on
    beat every few seconds)."""
    lifecycle.start_due()
    imports.forget_old()
    subscriptions.process_sign_ups()
    fresh_links.process_requests()
    if message_ids := intake.claim_queued():
        process_inbound.delay(message_ids)
    for job_id in imports.claim_queued():
        run_import.delay(job_id)
    if row_ids := outbox.claim_due():
        deliver_outbox.delay(row_ids)
    for batch in ledger.dispatch():
        deliver_batch.delay(batch.campaign_id, batch.first_id, batch.last_id)
