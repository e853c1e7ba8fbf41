"""Send one-off messages from the outbox (test sends, system emails): few, so one at a time,
but through the same servers, failover and limits as campaigns."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from app.mailservers import failover_order, servers_for
from app.models.base import utcnow
from app.services import outbox
from worker import smtp
from worker.throttle import throttle_for, wait_for_slot


def send_outbox(row_ids: list[int]) -> int:
    """Send the claimed outbox rows; return how many the server accepted."""
    config = current_app.config
    servers = servers_for(config)
    throttle = throttle_for(config["BROKER_URL"])
    deadline = utcnow() + outbox.LEASE - timedelta(seconds=10)
    accepted = 0
    for item in outbox.prepare(row_ids, config):
        if item.message is None:
            outbox.record(item.row_id, sent=False, reply=item.problem)
            continue
        if not outbox.still_wanted(item.row_id):  # erased, suppressed or blocked meanwhile
            continue
        message = item.message
        result = smtp.Result(smtp.Outcome.RETRY, "no SMTP server configured", True)
        for server in failover_order(servers, item.smtp_server):
            if not wait_for_slot(throttle, server, deadline):
                result = smtp.Result(smtp.Outcome.RETRY, "sending limit reached", True)
                break
            result = smtp.connection_to(server).send(
                message.envelope_from, message.recipient, message.data
            )
            if not result.unreachable:
                break
        sent = result.outcome is smtp.Outcome.SENT
        accepted += sent
        outbox.record(
            item.row_id, sent=sent, reply=result.reply, retry=result.outcome is smtp.Outcome.RETRY
        )
    return accepted
