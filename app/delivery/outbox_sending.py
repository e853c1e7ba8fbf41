"""Send one-off messages from the outbox (test sends, system emails): few, so one at a time,
but through the same servers, failover and limits as campaigns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.audience import suppressions
from app.delivery import failover, smtp
from app.delivery.ports import Transport
from app.delivery.throttle import throttle_for
from app.extensions import db
from app.mailservers import failover_order, servers_for
from app.messages import outbox
from app.messages.composing import Outgoing
from app.models import OutboxKind, OutboxMessage
from app.models.base import utcnow


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
        if not still_wanted(item.row_id):  # erased, suppressed or blocked meanwhile
            continue
        result, _connection = failover.first_reachable(
            failover_order(servers, item.smtp_server), throttle, deadline, whole(item.message)
        )
        sent = result.outcome is smtp.ReplyKind.SENT
        accepted += sent
        retry = result.outcome in (smtp.ReplyKind.RETRY, smtp.ReplyKind.THROTTLED)
        outbox.record(item.row_id, sent=sent, reply=result.reply, retry=retry)
    return accepted


def whole(message: Outgoing) -> Callable[[Transport], smtp.Result]:
    """Send all of ``message`` on the connection it is given."""
    return lambda connection: connection.send(
        message.envelope_from, message.recipient, message.data
    )


DROPPED = "dropped: the address is suppressed or its domain is blocked"


def still_wanted(row_id: int) -> bool:
    """Look at a claimed row once more right before it is sent. A confirm or goodbye mail to
    an address suppressed, or at a domain blocked, since it was queued is dropped (recorded
    as failed, with why); a row that is gone (the person was erased) is not sent."""
    row = db.session.execute(
        select(OutboxMessage.kind, OutboxMessage.to_address).where(OutboxMessage.id == row_id)
    ).first()
    if row is None:
        return False
    if row.kind is not OutboxKind.TEST and suppressions.is_blocked(row.to_address):
        outbox.record(row_id, sent=False, reply=DROPPED)
        return False
    return True
