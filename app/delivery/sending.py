"""The per-batch send loop.

For each claimed row: send its message up to (not including) the final dot, render the
next row's message, and meanwhile have the ledger record the previous row's outcome and
re-check this one. The final dot goes out only once that check said yes (with the next
message's envelope in the same write, when the server pipelines); otherwise the unfinished
message is dropped with the connection. See ``app.delivery.recording`` for the ledger side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app

from app.delivery import failover, ledger, outcomes, smtp
from app.delivery.ports import Connect, Ledger, Transport
from app.delivery.recording import BatchLedger, Check, DeliveryOutcome
from app.delivery.throttle import Throttle, throttle_for
from app.extensions import db
from app.mailservers import failover_order, servers_for
from app.messages import composing
from app.models import Campaign, CampaignStatus, DeliveryStatus
from app.models.base import utcnow
from app.tokens import hasher
from emails.errors import RenderError

# When no server can be reached, the rest of the batch waits this long (uncounted).
UNREACHABLE_DELAY = 60.0
# A batch hands its rows back this long before its lease ends (Celery's time limit does not
# apply to solo workers, so the lease is the batch's own clock).
LEASE_MARGIN_SECONDS = 5.0


def send_range(campaign_id: int, first_id: int, last_id: int) -> int:
    """Send every claimable row of a campaign between two ledger ids; return how many sent.
    Nothing is claimed while the hash key is not the database's (``HashKeyMismatch``)."""
    hasher()
    if ledger.campaign_status(campaign_id) != CampaignStatus.SENDING:
        return 0
    claimed = ledger.claim(ledger.Batch(campaign_id, first_id, last_id))
    if not claimed:
        return 0
    campaign = db.session.get_one(Campaign, campaign_id)
    sender = BatchSender(campaign, current_app.config)
    db.session.remove()  # the batch's own connection does the rest
    return sender.run(claimed)


_factories: dict[tuple[int, object], composing.MessageFactory] = {}


def _factory(campaign: Campaign, config: dict[str, Any]) -> composing.MessageFactory:
    """Compile a campaign's variants once per worker process, not once per batch.

    Variants cannot change once a campaign is sending, so (id, start time) names them.
    """
    key = (campaign.id, campaign.started_at)
    if key not in _factories:
        _factories.clear()  # one campaign at a time is the common case; keep memory flat
        _factories[key] = composing.MessageFactory(campaign, config)
    return _factories[key]


@dataclass(frozen=True)
class Attempt:
    """How one row went: the outcome to record next, or why the batch stops here."""

    outcome: DeliveryOutcome | None = None
    sent: bool = False
    release_to: DeliveryStatus | None = None  # the campaign paused (queued) or was cancelled
    defer_reply: str | None = None  # no SMTP server could be reached


class _Started(NamedTuple):
    """A row's message on its way: sent up to its final dot (``connection``), or not."""

    message: composing.Outgoing | None
    problem: str
    connection: Transport | None
    early: smtp.Result | None  # refused, or never started


class BatchSender:
    """Sends one claimed batch; everything per campaign is prepared once, here."""

    def __init__(
        self,
        campaign: Campaign,
        config: dict[str, Any],
        open_ledger: Callable[[int, dict[str, Any]], Ledger] = BatchLedger,
        connect: Connect = smtp.connection_to,
    ) -> None:
        self.campaign_id = campaign.id
        self.config = config
        self.open_ledger = open_ledger
        self.connect = connect
        self.factory = _factory(campaign, config)
        self.servers = failover_order(servers_for(config), campaign.smtp_server)
        self.throttle: Throttle = throttle_for(config["BROKER_URL"])

    def run(self, claimed: list[ledger.Claimed]) -> int:
        """Send the rows in order; stop at once when the campaign stops sending."""
        book = self.open_ledger(self.campaign_id, self.config)
        try:
            return self._run(claimed, book)
        finally:
            smtp.settle_all()  # nothing half-sent or announced outlives the batch
            book.close()

    def _run(self, claimed: list[ledger.Claimed], book: Ledger) -> int:
        recipients = book.recipients(claimed)
        # Stop early enough that no row is sent after its lease could have been swept.
        deadline = claimed[0].lease_until - timedelta(seconds=LEASE_MARGIN_SECONDS)
        pending: DeliveryOutcome | None = None
        sent = 0
        built: tuple[composing.Outgoing | None, str] | None = self._build(
            recipients.get(claimed[0].subscriber_id)
        )
        for position, row in enumerate(claimed):
            assert built is not None  # each row's message is built before its turn
            if utcnow() >= deadline:
                book.step(pending, None)
                book.release(claimed[position:], DeliveryStatus.QUEUED)
                return sent
            # Record the previous row and re-check this one while this one is sent up to its
            # final dot and the next one is rendered.
            check = book.begin_step(pending, row.subscriber_id)
            following = claimed[position + 1] if position + 1 < len(claimed) else None
            try:
                started = self._begin(built, deadline)
                built = self._build(recipients.get(following.subscriber_id)) if following else None
                attempt = self._conclude(row, started, check, built)
            except BaseException:
                self._give_back_after_error(book, check, pending, claimed[position:])
                raise
            if attempt.release_to is not None:
                book.release(claimed[position:], attempt.release_to)
                return sent
            if attempt.defer_reply is not None:
                book.defer(claimed[position:], UNREACHABLE_DELAY, attempt.defer_reply)
                return sent
            pending, sent = attempt.outcome, sent + attempt.sent
        book.step(pending, None)
        return sent

    @staticmethod
    def _give_back_after_error(
        book: Ledger, check: Any, pending: DeliveryOutcome | None, rest: list[ledger.Claimed]
    ) -> None:
        """On an unexpected error, keep what is known and hand the rest back, uncounted."""
        smtp.settle_all()  # a message waiting for its final dot is dropped, never finished
        if check.exception() is not None:  # (waits for the step) it failed: record again
            book.step(pending, None)
        book.release(rest, DeliveryStatus.QUEUED)

    def _begin(self, built: tuple[composing.Outgoing | None, str], deadline: datetime) -> _Started:
        """Send a row's message up to its final dot (the check is not awaited here)."""
        message, problem = built
        connection, early = (None, None) if message is None else self._start(message, deadline)
        return _Started(message, problem, connection, early)

    def _conclude(
        self,
        row: ledger.Claimed,
        started: _Started,
        check: Any,
        upcoming: tuple[composing.Outgoing | None, str] | None,
    ) -> Attempt:
        """Wait for the check, then finish or drop the message; say how the row went."""
        message, problem, connection, early = started
        verdict: Check = check.result()
        waiting = connection if early is None else None  # for its final dot
        if verdict.campaign_status != CampaignStatus.SENDING:
            if waiting is not None:
                waiting.abort()
            return Attempt(release_to=outcomes.released_to(verdict.campaign_status))
        if not verdict.mailable:
            if waiting is not None:
                waiting.abort()
            return Attempt(outcomes.not_mailable(row))
        if message is None:
            return Attempt(outcomes.unbuilt(row, problem))
        if early is not None and early.unreachable:
            if early.outcome is smtp.ReplyKind.THROTTLED:
                return Attempt(release_to=DeliveryStatus.QUEUED)
            return Attempt(defer_reply=early.reply)
        if early is None:
            assert waiting is not None  # ``_start`` gives a connection whenever no answer
            result = waiting.finish(self._next(waiting, upcoming))
        else:
            result = early
        return Attempt(
            outcomes.of_reply(row, message, result), result.outcome is smtp.ReplyKind.SENT
        )

    def _next(
        self, connection: Transport, upcoming: tuple[composing.Outgoing | None, str] | None
    ) -> tuple[str, str] | None:
        """The next message's envelope, when it will start on this same connection."""
        message = upcoming[0] if upcoming is not None else None
        first = self.servers[0] if self.servers else None
        if message is None or first is None or first.limits:
            return None  # nothing to send, or a throttle decides when it may start
        if self.connect(first) is not connection:
            return None  # this one went to a fallback server; the next tries the first again
        return message.envelope_from, message.recipient

    def _build(
        self, recipient: composing.Recipient | None
    ) -> tuple[composing.Outgoing | None, str]:
        if recipient is None:
            return None, "the subscriber no longer exists"
        try:
            message = self.factory.build(recipient, utcnow())
        except RenderError as exc:
            return None, f"template: {exc}"
        if message is None:
            return None, f"no ready variant for language {recipient.language}"
        return message, ""

    def _start(
        self, message: composing.Outgoing, deadline: datetime
    ) -> tuple[Transport | None, smtp.Result | None]:
        """Start the message on the first server that answers, within its limits."""
        early, connection = failover.first_reachable(
            self.servers,
            self.throttle,
            deadline,
            lambda c: c.start(message.envelope_from, message.recipient, message.data),
            self.connect,
        )
        return connection, early
