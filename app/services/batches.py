"""One claimed batch's conversation with the ledger, on a connection of its own.

The send loop runs these steps on a helper thread while it renders and talks SMTP, so the
database round trips overlap the network ones. Each ``step`` is one transaction: record the
previous message's outcome, then check that the next row may still be sent (campaign still
sending, subscriber still active, confirmed and unsuppressed). The loop waits for that step
before it sends the next message's final dot, so at most one accepted message per
connection is ever waiting for its ledger write.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Dialect, Select, bindparam, null, select, update

from app.extensions import db
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Group,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
)
from app.models.base import utcnow
from app.services.composing import Recipient
from app.services.ledger import Claimed, mailable_now
from app.services.suppressions import suppress_hash

BACKOFF_CAP_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed row; ``retry`` rows wait with a backoff instead."""

    row: Claimed
    status: DeliveryStatus
    reply: str = ""
    language: str | None = None
    message_id: str | None = None
    retry: bool = False
    bounce: bool = False  # 5.1.x: mark the subscriber bounced and suppress the address
    pause_reason: str | None = None  # 5.7.x: stop the campaign, visibly


@dataclass(frozen=True)
class Check:
    """May the next row still be sent?"""

    campaign_status: CampaignStatus | None
    mailable: bool


_deliveries = Delivery.__table__
# One statement for every outcome; a retry sets next_attempt_at, everything else clears it.
_RECORD = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("row_id"),
        _deliveries.c.status == bindparam("claimed"),  # named: see _DriverSteps
        _deliveries.c.lease_until == bindparam("lease"),
    )
    .values(
        status=bindparam("status"),
        smtp_reply=bindparam("reply"),
        lease_until=null(),
        updated_at=bindparam("now"),
        language=bindparam("language"),
        message_id=bindparam("message_id"),
        next_attempt_at=bindparam("next_attempt_at"),
    )
)


class _DriverSteps:
    """A step's statements, compiled once per batch and run on the driver's own cursor.

    A step runs once a message on the helper thread, which shares the GIL with the send
    loop; SQLAlchemy's execute path would cost about as much CPU again as the driver's.
    On PostgreSQL the record and the next check are one statement (a writing CTE), so a
    step is one round trip; sqlite3 runs them as two.
    """

    def __init__(self, connection: Connection, check: Select[Any]) -> None:
        dialect = connection.dialect
        self.postgres = dialect.name == "postgresql"
        # psycopg takes %(name)s parameters; sqlite3 takes :name but not SQLAlchemy's qmark.
        compile_for = dialect if self.postgres else type(dialect)(paramstyle="named")
        self.record, self.record_constants = _compile(_RECORD, compile_for)
        self.check, self.check_constants = _compile(check, compile_for)
        recorded, _ = _compile(_RECORD.returning(_deliveries.c.id), compile_for)
        self.both = f"WITH recorded AS ({recorded}) {self.check}"
        # The two compile separately: their parameter names must not meet (the record's are
        # all named and given per call; the check's literals come along as constants).
        assert not set(self.record_constants) & set(self.check_constants), "names collide"
        # Timestamps as SQLAlchemy binds them (SQLite compares the stored text).
        stamp = _deliveries.c.lease_until.type.dialect_impl(dialect)
        self.time = stamp.bind_processor(dialect) or (lambda value: value)
        self.cursor = connection.connection.cursor()

    def run(self, values: dict[str, Any] | None, subscriber_id: int | None) -> Any:
        """Record (when ``values``), then check ``subscriber_id`` (when given): its row."""
        cursor = self.cursor
        if values is not None:
            values = self._bound(values)
        if subscriber_id is None:
            if values is not None:
                self._execute(self.record, values)
            return None
        check = {**self.check_constants, "subscriber_id": subscriber_id}
        if values is not None and self.postgres:
            self._execute(self.both, {**values, **check})
        else:
            if values is not None:
                self._execute(self.record, values)
            self._execute(self.check, check)
        return cursor.fetchone()

    def _execute(self, sql: str, parameters: dict[str, Any]) -> None:
        if self.postgres:  # psycopg prepares it once per connection
            self.cursor.execute(sql, parameters, prepare=True)
        else:
            self.cursor.execute(sql, parameters)

    def _bound(self, values: dict[str, Any]) -> dict[str, Any]:
        time = self.time
        return {
            **self.record_constants,
            **values,
            "claimed": DeliveryStatus.CLAIMED.value,
            "status": values["status"].value,
            "lease": time(values["lease"]),
            "now": time(values["now"]),
            "next_attempt_at": time(values["next_attempt_at"]),
        }


def _compile(statement: Any, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Return the statement's SQL and its literal parameters, as the driver takes them."""
    compiled = statement.compile(dialect=dialect)
    constants = {
        name: value.value if isinstance(value, Enum) else value
        for name, value in compiled.params.items()
        if value is not None
    }
    return str(compiled), constants


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
        self.connection: Connection = db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        )
        check = select(
            select(Campaign.status).where(Campaign.id == campaign_id).scalar_subquery(),
            select(mailable_now(campaign_id))
            .where(Subscriber.id == bindparam("subscriber_id"))
            .scalar_subquery(),
        )
        self._steps = _DriverSteps(self.connection, check)

    def close(self) -> None:
        """Give the connection back to the pool."""
        self.connection.close()

    def recipients(self, claimed: list[Claimed]) -> dict[int, Recipient]:
        """Fetch the batch's recipients in one query (the rows are re-checked one by one)."""
        rows = self.connection.execute(
            select(
                Subscriber.id,
                Subscriber.uid,
                Subscriber.email,
                Subscriber.name,
                Subscriber.language,
                Group.name,
                Subscriber.attributes,
            )
            .outerjoin(Group, Group.id == Subscriber.group_id)
            .where(Subscriber.id.in_([row.subscriber_id for row in claimed]))
        ).all()
        return {row[0]: Recipient(*row[1:]) for row in rows}

    def step(self, outcome: Outcome | None, next_subscriber: int | None) -> Check | None:
        """Record ``outcome``, then check whether the next row may still be sent."""
        values = self._prepare(outcome) if outcome is not None else None
        row = self._steps.run(values, next_subscriber)
        if row is None:
            return None
        status, mailable = row
        return Check(CampaignStatus(status) if status else None, bool(mailable))

    def _prepare(self, outcome: Outcome) -> dict[str, Any]:
        """Run the outcome's side effects and return the parameters of its row's record."""
        if outcome.bounce:
            self._bounce(outcome.row.subscriber_id, outcome.reply)
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

    def _retry_values(self, outcome: Outcome, now: datetime) -> dict[str, Any]:
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

    def _bounce(self, subscriber_id: int, reply: str) -> None:
        email_hash = self.connection.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber_id)
            .values(status=SubscriberStatus.BOUNCED)
            .returning(Subscriber.email_hash)
        ).scalar()
        if email_hash is not None:
            suppress_hash(self.connection, email_hash, SuppressionReason.BOUNCE, reply)

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
        self.connection.execute(
            update(Delivery)
            .where(
                Delivery.id.in_([row.delivery_id for row in rows]),
                Delivery.status == DeliveryStatus.CLAIMED,
                Delivery.lease_until == rows[0].lease_until,  # one claim, one lease
            )
            .values(lease_until=None, attempts=Delivery.attempts - 1, **values)
        )
