"""The send path's two interfaces: what it asks of the database (``Ledger``) and of a
connection to an SMTP server (``Transport``). ``sending`` and ``failover`` depend on these
alone; ``recording.BatchLedger`` and ``smtp.Connection`` are the implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from app.mailservers import SmtpSettings

if TYPE_CHECKING:
    from app.delivery.ledger import Claimed
    from app.delivery.recording import Check, DeliveryOutcome
    from app.delivery.smtp import Result
    from app.messages.composing import Recipient
    from app.models import DeliveryStatus


class PendingCheck(Protocol):
    """A step on its way: ``result()`` waits for the re-check, ``exception()`` for its end."""

    def result(self) -> Check | None: ...

    def exception(self) -> BaseException | None: ...


class Ledger(Protocol):
    """One claimed batch's conversation with the delivery table, on its own connection."""

    def recipients(self, claimed: list[Claimed]) -> dict[int, Recipient]:
        """The batch's recipients, fetched once."""
        ...

    def begin_step(
        self, outcome: DeliveryOutcome | None, next_subscriber: int | None
    ) -> PendingCheck:
        """Record the previous row's outcome and re-check the next row, without waiting."""
        ...

    def step(self, outcome: DeliveryOutcome | None, next_subscriber: int | None) -> Check | None:
        """The same, waited for."""
        ...

    def release(self, rows: list[Claimed], status: DeliveryStatus) -> None:
        """Hand rows back uncounted (queued again, or skipped)."""
        ...

    def defer(self, rows: list[Claimed], seconds: float, reply: str) -> None:
        """Try rows again later without spending an attempt."""
        ...

    def close(self) -> None:
        """Give the connection back."""
        ...


class Transport(Protocol):
    """A persistent session with one SMTP server."""

    def send(self, envelope_from: str, recipient: str, data: bytes) -> Result:
        """A whole message."""
        ...

    def start(self, envelope_from: str, recipient: str, data: bytes) -> Result | None:
        """A message up to its final dot; a result only when it ended early."""
        ...

    def finish(self, then: tuple[str, str] | None = None) -> Result:
        """The final dot, with the next message's envelope in the same write if given."""
        ...

    def abort(self) -> None:
        """Drop a message waiting for its final dot, with the session."""
        ...


# How the send path reaches a server: one persistent session per server and process.
Connect = Callable[[SmtpSettings], Transport]
