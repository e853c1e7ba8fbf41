"""The per-message ledger statements, compiled once and run on the database driver itself.

A batch runs one step a message: record the previous row's outcome, then re-check the next
row (see ``app.delivery.recording``). Through SQLAlchemy's execute path a step costs about as
much CPU again as the driver's own work, and the send loop is CPU-bound, so:

- PostgreSQL: the record and the check are one prepared statement (a writing CTE), sent
  through libpq's asynchronous interface. The send loop sends it, renders the next message
  and talks SMTP, and collects the answer just before the final dot: one round trip, and no
  helper thread competing for the GIL.
- SQLite: sqlite3 runs the record and the check as two statements (on the batch's helper
  thread, so that they overlap the SMTP round trips).
"""

from __future__ import annotations

import re
import select
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Dialect, Select, bindparam, null, update
from sqlalchemy.engine.default import DefaultDialect

from app.models import Delivery, DeliveryStatus

_deliveries = Delivery.__table__
# One statement for every outcome; a retry sets next_attempt_at, everything else clears it.
RECORD = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("row_id"),
        _deliveries.c.status == bindparam("claimed"),  # named: the check's names must differ
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
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _compile(statement: Any, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Return the statement's SQL and its literal parameters, as a driver takes them."""
    compiled = statement.compile(dialect=dialect)
    constants = {
        name: value.value if isinstance(value, Enum) else value
        for name, value in compiled.params.items()
        if value is not None
    }
    return str(compiled), constants


def _record_values(values: dict[str, Any], time: Any) -> dict[str, Any]:
    """The record's parameters with enums as their values and timestamps as bound."""
    return {
        **values,
        "claimed": DeliveryStatus.CLAIMED.value,
        "status": values["status"].value,
        "lease": time(values["lease"]),
        "now": time(values["now"]),
        "next_attempt_at": time(values["next_attempt_at"]),
    }


class SqliteSteps:
    """sqlite3: the record, then the check, on the batch's connection (autocommit)."""

    def __init__(self, connection: Connection, check: Select[Any]) -> None:
        dialect = connection.dialect
        assert isinstance(dialect, DefaultDialect)  # every installed dialect is one
        named = type(dialect)(paramstyle="named")  # sqlite3 takes :name, not SQLAlchemy's ?
        self.record, _ = _compile(RECORD, named)
        self.check, self.constants = _compile(check, named)
        # Timestamps as SQLAlchemy binds them: SQLite compares the stored text.
        stamp = _deliveries.c.lease_until.type.dialect_impl(dialect)
        self.time = stamp.bind_processor(dialect) or (lambda value: value)
        self.cursor = connection.connection.cursor()

    def run(self, values: dict[str, Any] | None, subscriber_id: int | None) -> Any:
        """Record (when ``values``), then check ``subscriber_id`` (when given): its row."""
        if values is not None:
            self.cursor.execute(self.record, _record_values(values, self.time))
        if subscriber_id is None:
            return None
        return self.cursor.execute(
            self.check, {**self.constants, "subscriber_id": subscriber_id}
        ).fetchone()


class PostgresSteps:
    """libpq, asynchronously: ``send`` a step now, ``InFlight.result`` collects its row.

    The statements are prepared once per database session (named, so they outlive the
    batch) with every value, the campaign's included, as a text parameter.
    """

    def __init__(self, connection: Connection, check: Select[Any]) -> None:
        dialect = connection.dialect
        recorded, _ = _compile(RECORD.returning(_deliveries.c.id), dialect)
        record, _ = _compile(RECORD, dialect)
        checked, self.constants = _compile(check, dialect)
        self.sql = {
            b"tocsin_step_both": f"WITH recorded AS ({recorded}) {checked}",
            b"tocsin_step_record": record,
            b"tocsin_step_check": checked,
        }
        self.order = {name: _PLACEHOLDER.findall(sql) for name, sql in self.sql.items()}
        proxied = connection.connection
        driver = proxied.driver_connection
        assert driver is not None  # the connection is checked out: it has its driver's
        self.pgconn = driver.pgconn
        # psycopg deallocates every prepared statement of a session when it sees a ROLLBACK
        # (as the pool's reset on return is), so ask the server what it still has.
        cursor = proxied.cursor()
        cursor.execute(
            "SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)",
            [[name.decode() for name in self.sql]],
        )
        self.prepared = {row[0].encode() for row in cursor.fetchall()}
        cursor.close()
        self.poll = select.poll()
        self.poll.register(self.pgconn.socket, select.POLLIN)

    def send(
        self, values: dict[str, Any] | None, subscriber_id: int | None, convert: Any
    ) -> InFlight:
        """Send the step (record when ``values``, check when ``subscriber_id``); no waiting.

        The row it returns is handed to ``convert``."""
        parameters = {**self.constants, "subscriber_id": subscriber_id}
        if values is not None:
            parameters.update(_record_values(values, lambda stamp: stamp))
        if values is not None and subscriber_id is not None:
            name = b"tocsin_step_both"
        elif values is not None:
            name = b"tocsin_step_record"
        elif subscriber_id is not None:
            name = b"tocsin_step_check"
        else:
            return InFlight(self, convert, rows=False, sent=False)
        if name not in self.prepared:
            self._prepare(name)
        order = self.order[name]
        self.pgconn.send_query_prepared(name, [_text(parameters[n]) for n in order])
        while self.pgconn.flush():  # the connection is non-blocking; a step is a few hundred bytes
            select.select([], [self.pgconn.socket], [])
        return InFlight(self, convert, rows=subscriber_id is not None, sent=True)

    def _prepare(self, name: bytes) -> None:
        numbers = iter(range(1, len(self.order[name]) + 1))
        sql = _PLACEHOLDER.sub(lambda _match: f"${next(numbers)}", self.sql[name])
        result = self.pgconn.prepare(name, sql.encode())
        if result.status != _pq().ExecStatus.COMMAND_OK:
            raise _error(result)
        self.prepared.add(name)

    def collect(self, rows: bool) -> Any:
        """Wait for the step's result and return its row (or None for a record alone)."""
        pq, pgconn = _pq(), self.pgconn
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            self.poll.poll()
        results = []
        while (result := pgconn.get_result()) is not None:
            results.append(result)
        failed = [r for r in results if r.status == pq.ExecStatus.FATAL_ERROR]
        if failed or not results:
            raise _error(failed[0] if failed else None)
        if not rows:
            return None
        result = results[-1]
        status = result.get_value(0, 0)
        return (status.decode() if status else None, result.get_value(0, 1) == b"t")


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().encode()
    return str(value.value if isinstance(value, Enum) else value).encode()


def _pq() -> Any:
    import psycopg.pq

    return psycopg.pq


def _error(result: Any) -> Exception:
    import psycopg

    message = result.error_message.decode(errors="replace") if result is not None else ""
    return psycopg.OperationalError(f"ledger step failed: {message or 'no result'}")


class InFlight:
    """A step on its way (or done): ``result()`` waits for it once; ``exception()`` too."""

    def __init__(self, steps: PostgresSteps, convert: Any, rows: bool, sent: bool) -> None:
        self._steps, self._convert, self._rows, self._pending = steps, convert, rows, sent
        self._row: Any = convert(None)
        self._error: BaseException | None = None

    def result(self) -> Any:
        """The converted row (status, mailable); None when nothing was checked."""
        if self._pending:
            self._pending = False
            try:
                self._row = self._convert(self._steps.collect(self._rows))
            except BaseException as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._row

    def exception(self) -> BaseException | None:
        """Wait for the step; return what it raised, or None."""
        try:
            self.result()
        except BaseException as exc:  # noqa: BLE001 - handed back, like Future.exception()
            return exc
        return None
