"""One claimed batch's conversation with the ledger, on a connection of its own.

The send loop starts each step before it renders and talks SMTP, so the database round
trips overlap the network ones (``app.delivery.recording_sql``: PostgreSQL sends it through
libpq and collects it later; SQLite runs it on a helper thread). A step records the
previous message's outcome, then checks that the next row may still be sent (campaign still
sending, subscriber still active, confirmed and unsuppressed). The loop waits for that step
before it sends the next message's final dot, so at most one accepted message per
connection is ever waiting for its ledger write.
"""

from __future__ import annotations

import random
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from app.audience import bounces
from app.delivery.ledger import Claimed, mailable_now
from app.delivery.recording_sql import InFlight, PostgresSteps, SqliteSteps
from app.extensions import db
from app.messages.composing import Recipient
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Group,
    ReturnKind,
    Subscriber,
)
from app.models.base import utcnow

BACKOFF_CAP_SECONDS = 6 * 3600


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one claimed row; ``retry`` rows wait with a backoff instead."""

    row: Claimed
    status: DeliveryStatus
    reply: str = ""
    language: str | None = None
    message_id: str | None = None
    retry: bool = False
    # A permanent failure, scored by the bounce rules: hard suppresses, soft adds to the score.
    returned: ReturnKind | None = None
    pause_reason: str | None = None  # 5.7.x: stop the campaign, visibly


@dataclass(frozen=True)
class Check:
    """May the next row still be sent?"""

    campaign_status: CampaignStatus | None
    mailable: bool


def _check_of(row: Any) -> Check | None:
    """The check's row (campaign status, mailable) as a ``Check``."""
    if row is None:
        return None
    status, mailable = row
    return Check(CampaignStatus(status) if status else None, bool(mailable))


class BatchLedger:
    """The ledger for one batch of one campaign; use it from one thread at a time.

    The connection autocommits: each write stands on its own, ordered so that a crash
    between two of them leaves nothing wrong (side effects such as a suppression come
    before the row's own record, which a re-claim would otherwise redo).
    """

    def __init__(self, campaign_id: int, config: dict[str, Any]) -> None:
        self.campaign_id = campaign_id
        self.retry_base = float(config["RETRY_BASE_SECONDS"])
        self.retry_window = timedelta(seconds=float(config["RETRY_WINDOW_SECONDS"]))
        self.scoring = bounces.Scoring.of(config)
        self.connection: Connection = db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        )
        check = select(
            select(Campaign.status).where(Campaign.id == campaign_id).scalar_subquery(),
            select(mailable_now(campaign_id))
            .where(Subscriber.id == bindparam("subscriber_id"))
            .scalar_subquery(),
        )
        postgres = self.connection.dialect.name == "postgresql"
        self._postgres = PostgresSteps(self.connection, check) if postgres else None
        self._sqlite = None if postgres else SqliteSteps(self.connection, check)
        self._helper: ThreadPoolExecutor | None = None
        self._in_flight: InFlight | None = None

    def close(self) -> None:
        """Give the connection back to the pool (with no result left unread on it)."""
        self._settle()
        if self._helper is not None:
            self._helper.shutdown()
        self.connection.close()

    def _settle(self) -> None:
        """Read the step still in flight, if any, before the connection runs anything else."""
        if self._in_flight is not None:
            self._in_flight.exception()  # its holder still sees any error in result()
            self._in_flight = None

    def recipients(self, claimed: list[Claimed]) -> dict[int, Recipient]:
        """Fetch the batch's recipients in one query (the rows are re-checked one by one)."""
        self._settle()
        rows = self.connection.execute(
            select(
                Subscriber.id,
                Subscriber.uid,
                Subscriber.email,
                Subscriber.name,
                Subscriber.language,
                Group.name,
                Subscriber.attributes,
                func.coalesce(Subscriber.country, Group.country),
            )
            .outerjoin(Group, Group.id == Subscriber.group_id)
            .where(Subscriber.id.in_([row.subscriber_id for row in claimed]))
        ).all()
        return {row[0]: Recipient(*row[1:]) for row in rows}

    def begin_step(
        self, outcome: DeliveryOutcome | None, next_subscriber: int | None
    ) -> InFlight | Future[Check | None]:
        """Start ``step``; its ``result()`` is the check, to read just before the final dot.

        PostgreSQL: sent now, collected by ``result()``; SQLite: run on a helper thread."""
        if self._postgres is None:
            if self._helper is None:
                self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
            return self._helper.submit(self.step, outcome, next_subscriber)
        self._settle()
        values = self._prepare(outcome) if outcome is not None else None
        self._in_flight = self._postgres.send(values, next_subscriber, _check_of)
        return self._in_flight

    def step(self, outcome: DeliveryOutcome | None, next_subscriber: int | None) -> Check | None:
        """Record ``outcome``, then check whether the next row may still be sent."""
        if self._postgres is not None:
            return self.begin_step(outcome, next_subscriber).result()
        values = self._prepare(outcome) if outcome is not None else None
        return _check_of(self._sqlite.run(values, next_subscriber))  # type: ignore[union-attr]

    def _prepare(self, outcome: DeliveryOutcome) -> dict[str, Any]:
        """Run the outcome's side effects and return the parameters of its row's record."""
        if outcome.returned is not None:
            bounces.record(
                self.connection,
                outcome.row.subscriber_id,
                outcome.returned,
                source="send",
                scoring=self.scoring,
                status_code=bounces.status_in(outcome.reply),
                diagnostic=outcome.reply,
                campaign_id=self.campaign_id,
                delivery_id=outcome.row.delivery_id,
                mark_delivery=False,  # the row's own status says it: failed_perm
            )
        if outcome.pause_reason:
            self.connection.execute(
                update(Campaign)
                .where(Campaign.id == self.campaign_id, Campaign.status == CampaignStatus.SENDING)
                .values(status=CampaignStatus.PAUSED, status_reason=outcome.pause_reason)
            )
        now = utcnow()
        values: dict[str, Any] = {
            "row_id": outcome.row.delivery_id,
            "claimed": DeliveryStatus.CLAIMED,
            "lease": outcome.row.lease_until,
            "status": outcome.status,
            "reply": outcome.reply[:1000],
            "now": now,
            "language": outcome.language,
            "message_id": outcome.message_id,
            "next_attempt_at": None,
        }
        if outcome.retry:
            values.update(self._retry_values(outcome, now))
        return values

    def _retry_values(self, outcome: DeliveryOutcome, now: datetime) -> dict[str, Any]:
        """Backoff with jitter, or give up once the row has been tried for the whole window."""
        row = outcome.row
        if now - row.first_attempt_at > self.retry_window:
            reply = f"gave up after {row.attempts} attempts: {outcome.reply}"[:1000]
            return {"status": DeliveryStatus.FAILED_PERM, "reply": reply}
        delay = min(self.retry_base * 2 ** (row.attempts - 1), BACKOFF_CAP_SECONDS)
        delay *= random.uniform(0.8, 1.2)
        return {
            "status": DeliveryStatus.FAILED_TEMP,
            "next_attempt_at": now + timedelta(seconds=delay),
        }

    def release(self, rows: list[Claimed], status: DeliveryStatus) -> None:
        """Give claimed rows back uncounted (pause, lease running out), or skip them (cancel)."""
        self._hand_back(rows, status=status, enqueued_at=None)

    def defer(self, rows: list[Claimed], seconds: float, reply: str) -> None:
        """Let claimed rows wait, uncounted: no server could be reached."""
        now = utcnow()
        self._hand_back(
            rows,
            status=DeliveryStatus.FAILED_TEMP,
            smtp_reply=reply[:1000],
            updated_at=now,
            next_attempt_at=now + timedelta(seconds=seconds),
        )

    def _hand_back(self, rows: list[Claimed], **values: Any) -> None:
        if not rows:
            return
        self._settle()
        self.connection.execute(
            update(Delivery)
            .where(
                Delivery.id.in_([row.delivery_id for row in rows]),
                Delivery.status == DeliveryStatus.CLAIMED,
                Delivery.lease_until == rows[0].lease_until,  # one claim, one lease
            )
            .values(lease_until=None, attempts=Delivery.attempts - 1, **values)
        )
