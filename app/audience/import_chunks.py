"""Set-based writes of one chunk of checked import rows, per mode; the caller commits.

Each function takes the chunk's candidates (valid, no address twice) and returns what
became of them; a few statements per chunk, whatever its size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Row,
    Text,
    cast,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute

from app.audience import subscriptions, suppressions
from app.audience.import_rows import Candidate
from app.database import insert_or_ignore
from app.extensions import db
from app.models import (
    BlockedDomain,
    ImportMode,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from app.models.base import UTCDateTime, new_uids
from app.tokens import Hasher


@dataclass
class Context:
    """What every chunk of one import needs, read once."""

    mode: ImportMode
    list_id: int | None
    default_language: str
    source: str
    now: datetime
    hasher: Hasher
    blocked_domains: frozenset[str]


@dataclass
class ChunkTally:
    """A chunk's counts, and the rows it refused with the reason."""

    imported: int = 0
    updated: int = 0
    skipped: int = 0
    refused: list[tuple[Candidate, str]] = field(default_factory=list)
    # Rows whose mapped values went into the database: only their warnings are news.
    written: list[Candidate] = field(default_factory=list)
    # Rows imported with something to say that is not a warning of the checks.
    noted: list[tuple[Candidate, str]] = field(default_factory=list)


def blocked_domains() -> frozenset[str]:
    """Every blocked domain (a short table)."""
    return frozenset(db.session.scalars(select(BlockedDomain.domain)))


def write(context: Context, rows: list[Candidate]) -> ChunkTally:
    """Write one chunk in the import's mode."""
    if not rows:
        return ChunkTally()
    if context.mode is ImportMode.BLOCKLIST:
        return _blocklist(context, rows)
    if context.mode is ImportMode.UPDATE:
        return _update(rows)
    return _subscribe(context, rows)


def _among(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], values: list[Any]
) -> ColumnElement[bool]:
    """``column IN values`` with the values as one JSON array parameter, which the database
    takes apart (SQLite's ``json_each``, PostgreSQL's ``json_array_elements_text``):
    thousands of values cost one ``json.dumps``, not a bound parameter each."""
    payload = json.dumps(values)
    if db.session.get_bind().dialect.name == "postgresql":
        each = select(cast(literal_column("value"), column.type)).select_from(
            func.json_array_elements_text(cast(literal(payload, Text()), JSON))
        )
    else:
        each = select(literal_column("value")).select_from(func.json_each(payload))
    return column.in_(each.scalar_subquery())


def prepare(context: Context, rows: list[Candidate]) -> None:
    """The part of writing a chunk that needs no database, which the checking thread does
    ahead of the writes: each new subscriber's public id and the JSON of its row."""
    if not context.mode.creates:
        return
    default = context.default_language
    for row, uid in zip(rows, new_uids(len(rows)), strict=True):
        values = row.values
        row.uid = uid
        row.stored = json.dumps(
            (
                uid,
                row.email,
                row.email_hash,
                values.get("name", ""),
                values.get("language", default),
                values.get("country"),
                values.get("group_id"),
                # As text, the way the JSON column type writes it (SQLite would minify).
                json.dumps(values.get("attributes", {})),
            )
        )


def _outside_blocked_domains(
    context: Context, rows: list[Candidate], outcome: ChunkTally
) -> list[Candidate]:
    kept = []
    for row in rows:
        if (domain := suppressions.domain_of(row.email)) in context.blocked_domains:
            outcome.refused.append((row, f"the domain {domain} is blocked"))
        else:
            kept.append(row)
    return kept


def _unsuppressed(rows: list[Candidate], outcome: ChunkTally) -> list[Candidate]:
    """Drop (and report) suppressed addresses."""
    if not rows:
        return rows
    found = db.session.execute(
        select(Suppression.email_hash, Suppression.reason).where(
            _among(Suppression.email_hash, [row.email_hash for row in rows])
        )
    )
    suppressed = {email_hash: reason for email_hash, reason in found}
    kept = []
    for row in rows:
        if (reason := suppressed.get(row.email_hash)) is not None:
            outcome.refused.append((row, f"the address is suppressed ({reason.value})"))
        else:
            kept.append(row)
    return kept


def _subscribe(context: Context, rows: list[Candidate]) -> ChunkTally:
    """New addresses become subscribers; everyone valid gets a subscription to the list
    (confirmed, or unconfirmed with an opt-in mail). Existing details are left alone.

    A chunk of new addresses (a first import) is one insert and reads nothing back. When
    some rows were not inserted (stored already, suppressed, or taken by a sign-up
    meanwhile) the chunk's stored rows are read to find out which, and why."""
    outcome = ChunkTally()
    rows = _outside_blocked_domains(context, rows, outcome)
    if not rows:
        return outcome
    known: dict[str, Row[Any]] = {}
    created = rows
    if _insert_subscribed(context, rows) < len(rows):
        stored = _existing(rows)
        created = [r for r in rows if r.email in stored and stored[r.email].uid == r.uid]
        mine = {row.email for row in created}
        rest = _unsuppressed([row for row in rows if row.email not in mine], outcome)
        known = {row.email: stored[row.email] for row in rest if row.email in stored}
        outcome.refused += [
            (row, "not stored: it changed while importing; import the file again")
            for row in rest
            if row.email not in stored
        ]
    outcome.imported = len(created)
    outcome.written = created
    if created and context.mode is ImportMode.OPT_IN:
        _request_confirmations(context, Subscriber.uid, [row.uid for row in created])
    _subscriptions(context, [row for row in rows if row.email in known], known, outcome)
    return outcome


_COLUMNS = ("uid", "email", "email_hash", "name", "language", "country", "group_id", "attributes")
_FIXED = ("status", "consent_source", "consent_at", "confirmed_at", "created_at")
_SUBSCRIPTION = "subscriber_id, list_id, status, created_at, confirmed_at"


def _insert_subscribed(context: Context, rows: list[Candidate]) -> int:
    """Insert the chunk's new subscribers and subscribe each one inserted to the list; skip
    addresses stored already and suppressed ones. Return how many were inserted.

    The rows go as one JSON array (made by ``prepare``) that the database takes apart
    (SQLite's ``json_each``, PostgreSQL's ``json_array_elements``): no per-row parameter
    work in Python, and on SQLite one step of the statement, so the thread that checks the
    next chunk runs meanwhile. PostgreSQL subscribes the inserted rows in the same
    statement; SQLite, which has no INSERT in a WITH, finds them by the uids they were
    given."""
    connection = db.session.connection()
    when = _bound("created_at", context.now, connection)
    status, confirmed_at = _new_subscription(context)
    confirmed = when if confirmed_at else None
    fixed = (SubscriberStatus.ACTIVE.value, context.source, when, confirmed, when)
    payload = "[" + ",".join(row.stored for row in rows) + "]"
    names = ", ".join(_COLUMNS + _FIXED)
    subscribed = (context.list_id, status.value, when, confirmed)
    if connection.dialect.name == "postgresql":
        fields = [f"r->>{n}" for n in range(6)] + ["(r->>6)::integer", "(r->>7)::json"]
        return connection.exec_driver_sql(
            f"WITH created AS (INSERT INTO subscribers ({names}) "
            f"SELECT {', '.join(fields)}, %s, %s, %s, %s, %s "
            "FROM json_array_elements(%s::json) AS r WHERE NOT EXISTS "
            "(SELECT FROM suppressions WHERE email_hash = r->>2) "
            "ON CONFLICT DO NOTHING RETURNING id) "
            f"INSERT INTO subscriptions ({_SUBSCRIPTION}) SELECT id, %s, %s, %s, %s FROM created",
            (*fixed, payload, *subscribed),
        ).rowcount
    fields = [f"json_extract(value, '$[{n}]')" for n in range(len(_COLUMNS))]
    inserted = connection.exec_driver_sql(
        f"INSERT INTO subscribers ({names}) SELECT {', '.join(fields)}, ?, ?, ?, ?, ? "
        "FROM json_each(?) WHERE NOT EXISTS "
        "(SELECT 1 FROM suppressions WHERE email_hash = json_extract(value, '$[2]')) "
        "ON CONFLICT DO NOTHING",
        (*fixed, payload),
    ).rowcount
    if inserted:
        # A row with this run's fresh uid and its address is one this statement inserted.
        connection.exec_driver_sql(
            f"INSERT INTO subscriptions ({_SUBSCRIPTION}) SELECT s.id, ?, ?, ?, ? "
            "FROM json_each(?) AS r JOIN subscribers AS s "
            "ON s.uid = json_extract(r.value, '$[0]') AND s.email = json_extract(r.value, '$[1]')",
            (*subscribed, payload),
        )
    return inserted


def _bound(column: str, value: object, connection: Connection) -> object:
    """A value as the column's type hands it to the driver."""
    column_type = Subscriber.__table__.c[column].type.dialect_impl(connection.dialect)
    processor = column_type.bind_processor(connection.dialect)
    return processor(value) if processor else value


_DETAILS = ("name", "language", "country", "group_id", "attributes")
_NAMED = {"group_id": "group"}


def _existing(rows: list[Candidate]) -> dict[str, Row[Any]]:
    """The chunk's addresses that are stored already: id, status, uid and details."""
    if not rows:
        return {}
    found = db.session.execute(
        select(
            Subscriber.email, Subscriber.id, Subscriber.status, Subscriber.uid, *_details()
        ).where(_among(Subscriber.email, [row.email for row in rows]))
    )
    return {row.email: row for row in found}


def _details() -> list[Any]:
    return [getattr(Subscriber, name) for name in _DETAILS]


def _changes(stored: Row[Any], values: dict[str, Any]) -> dict[str, Any]:
    """The row's mapped values that differ from the stored subscriber's (attributes merged
    key by key)."""
    change = {k: v for k, v in values.items() if k != "attributes" and getattr(stored, k) != v}
    if attributes := values.get("attributes"):
        merged = {**(stored.attributes or {}), **attributes}
        if merged != stored.attributes:
            change["attributes"] = merged
    return change


def _subscriptions(
    context: Context, rows: list[Candidate], known: dict[str, Row[Any]], outcome: ChunkTally
) -> None:
    """Subscribe the chunk's subscribers that were stored before it to the list, once; their
    own details stay, and the report says which of the file's differ."""
    if not rows:
        return
    ids = [known[row.email].id for row in rows]
    found = db.session.execute(
        select(Subscription.subscriber_id, Subscription.status).where(
            Subscription.list_id == context.list_id, _among(Subscription.subscriber_id, ids)
        )
    )
    current = {subscriber_id: status for subscriber_id, status in found}
    confirm = context.mode is ImportMode.SUBSCRIBE
    new, to_confirm = [], []
    for row in rows:
        stored = known[row.email]
        state = current.get(stored.id)
        if stored.status is not SubscriberStatus.ACTIVE:
            outcome.refused.append((row, f"the subscriber is {stored.status.value}"))
        elif state is SubscriptionStatus.UNSUBSCRIBED:
            outcome.refused.append((row, "they left this list; an import does not bring back"))
        else:
            if state is None:
                new.append(stored.id)
                outcome.updated += 1
            elif state is SubscriptionStatus.UNCONFIRMED and confirm:
                to_confirm.append(stored.id)
                outcome.updated += 1
            else:
                outcome.skipped += 1
            if kept := [_NAMED.get(k, k) for k in _changes(stored, row.values)]:
                note = f"already a subscriber: kept their own {', '.join(kept)}"
                outcome.noted.append((row, f"{note} (an update import changes them)"))
    if new:
        _add_subscriptions(context, new)
    if to_confirm:
        db.session.execute(
            update(Subscription)
            .where(
                Subscription.list_id == context.list_id,
                _among(Subscription.subscriber_id, to_confirm),
                Subscription.status == SubscriptionStatus.UNCONFIRMED,
            )
            .values(status=SubscriptionStatus.CONFIRMED, confirmed_at=context.now)
        )


def _add_subscriptions(context: Context, subscriber_ids: list[int]) -> None:
    """Subscribe stored subscribers to the list (confirmed, or unconfirmed with an opt-in
    mail), in one statement."""
    status, confirmed_at = _new_subscription(context)
    table = Subscriber.__table__
    chosen = select(
        table.c.id,
        literal(context.list_id),
        literal(status.value),
        literal(context.now, UTCDateTime()),
        literal(confirmed_at, UTCDateTime()),
    ).where(_among(table.c.id, subscriber_ids))
    db.session.execute(
        insert_or_ignore(Subscription.__table__).from_select(_SUBSCRIPTION.split(", "), chosen)
    )
    if confirmed_at is None:
        _request_confirmations(context, Subscriber.id, subscriber_ids)


def _new_subscription(context: Context) -> tuple[SubscriptionStatus, datetime | None]:
    """The status and confirmation time of the subscriptions an import adds: confirmed in
    ``subscribe`` mode (the organiser vouches), unconfirmed in ``opt_in``."""
    if context.mode is ImportMode.SUBSCRIBE:
        return SubscriptionStatus.CONFIRMED, context.now
    return SubscriptionStatus.UNCONFIRMED, None


def _request_confirmations(context: Context, key: Any, values: list[Any]) -> None:
    """Queue a double opt-in mail to each newly subscribed address (at most one a day)."""
    mailing_list = db.session.get(MailingList, context.list_id)
    if mailing_list is None:
        return
    for subscriber in db.session.scalars(select(Subscriber).where(_among(key, values))):
        subscriptions.request_confirmation(subscriber, [mailing_list])


def _update(rows: list[Candidate]) -> ChunkTally:
    """Change the mapped details of existing subscribers; unknown addresses are refused.
    An empty cell changes nothing; attributes are merged key by key."""
    outcome = ChunkTally()
    current = _existing(rows)
    changes: list[dict[str, Any]] = []
    for row in rows:
        stored = current.get(row.email)
        if stored is None:
            outcome.refused.append((row, "not a subscriber; update mode adds nobody"))
            continue
        change = _changes(stored, row.values)
        outcome.written.append(row)
        if change:
            changes.append({"id": stored.id, **change})
            outcome.updated += 1
        else:
            outcome.skipped += 1
    if changes:
        db.session.execute(update(Subscriber), changes)
    return outcome


def _blocklist(context: Context, rows: list[Candidate]) -> ChunkTally:
    """Suppress every address (kept only as its keyed hash) and blocklist its subscriber."""
    outcome = ChunkTally()
    already = set(
        db.session.scalars(
            select(Suppression.email_hash).where(
                _among(Suppression.email_hash, [row.email_hash for row in rows])
            )
        )
    )
    connection = db.session.connection()
    for row in rows:
        if row.email_hash in already:
            outcome.skipped += 1
            continue
        suppressions.suppress_hash(
            connection, row.email_hash, SuppressionReason.MANUAL, context.source
        )
        outcome.imported += 1
    db.session.execute(
        update(Subscriber)
        .where(
            _among(Subscriber.email, [row.email for row in rows]),
            Subscriber.status == SubscriberStatus.ACTIVE,
        )
        .values(status=SubscriberStatus.BLOCKLISTED)
    )
    return outcome
