"""The order servers are tried in: the first one within its sending limits that answers.

Campaign batches and the outbox both go through ``first_reachable``; what is attempted on
the connection is theirs (a whole message, or a message up to its final dot).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from app.delivery import smtp
from app.delivery.ports import Connect, Transport
from app.delivery.throttle import Throttle, wait_for_slot
from app.mailservers import SmtpSettings

NO_SERVER = "no SMTP server configured"
LIMIT_REACHED = "sending limit reached"

# What an attempt returns: a result, or None while the message waits for its final dot.
R = TypeVar("R", bound=smtp.Result | None)


class Reached(NamedTuple, Generic[R]):
    """How the attempt went (what ``attempt`` returned, or why nothing was sent) and the
    connection it was made on (``None`` when no server answered or no slot freed in time)."""

    result: R | smtp.Result
    connection: Transport | None


def first_reachable(
    servers: Iterable[SmtpSettings],
    throttle: Throttle,
    deadline: datetime | None,
    attempt: Callable[[Transport], R],
    connect: Connect = smtp.connection_to,
) -> Reached[R]:
    """Try ``attempt`` on each server in order, each after a slot within its limits; move
    on only when a server cannot be reached. A server whose limits free no slot before
    ``deadline`` ends the search (``THROTTLED``: nothing was sent)."""
    result: R | smtp.Result = smtp.Result(smtp.ReplyKind.RETRY, NO_SERVER, True)
    for server in servers:
        if not wait_for_slot(throttle, server, deadline):
            return Reached(smtp.Result(smtp.ReplyKind.THROTTLED, LIMIT_REACHED, True), None)
        connection = connect(server)
        result = attempt(connection)
        if result is None or not result.unreachable:
            return Reached(result, connection)
    return Reached(result, None)
