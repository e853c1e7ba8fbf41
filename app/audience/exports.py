"""CSV export of subscribers: a filter, streamed in pieces, with formula cells neutralised.

The columns are the ones an import maps by name, so an exported file imports back as it
was (``csv_files.unneutralise`` removes the ``'`` that neutralised a cell).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, select, type_coerce

from app.audience import csv_files
from app.audience.filters import SubscriberFilter, matching
from app.errors import NoSuch
from app.extensions import db
from app.logs import audit
from app.models import Group, MailingList, Subscriber, Subscription
from app.models.base import utcnow

COLUMNS = [
    "email",
    "name",
    "language",
    "country",
    "group",
    "status",
    "created_at",
    "confirmed_at",
    "consent_source",
    "attributes",
]
PIECE_ROWS = 2000


def check_filter(list_slug: str = "", language: str = "", status: str = "") -> SubscriberFilter:
    """A filter from command-line values (a list by its slug); raise ``InvalidInput`` on a
    bad one."""
    list_id = None
    if list_slug:
        list_id = db.session.scalar(select(MailingList.id).where(MailingList.slug == list_slug))
        if list_id is None:
            raise NoSuch("list", "list", repr(list_slug), by="with slug")
    return SubscriberFilter.from_args(
        {"list": str(list_id or ""), "language": language, "status": status}
    )


def _utc_text(column: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    """A timestamp as ``2026-03-28T09:00:00Z`` text, formatted by the database."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    return func.strftime("%Y-%m-%dT%H:%M:%SZ", column)  # SQLite keeps UTC text


def _statement(chosen: SubscriberFilter) -> Select:
    """Every column as text from the database, so that a row needs no conversion here.

    The subscriber page's filter (``filters.matching``: erased rows never), except that
    a list means everyone with a subscription to it, whatever its status (a column says
    which)."""
    dialect = db.session.get_bind().dialect.name
    subscriber, subscription = Subscriber.__table__.c, Subscription.__table__.c
    groups = Group.__table__
    columns = [
        subscriber.email,
        subscriber.name,
        subscriber.language,
        subscriber.country,
        groups.c.name.label("group"),
        type_coerce(subscriber.status, Text).label("status"),
        _utc_text(subscriber.created_at, dialect).label("created_at"),
        _utc_text(subscriber.confirmed_at, dialect).label("confirmed_at"),
        subscriber.consent_source,
        # The stored JSON as text: no parse and re-dump per row.
        cast(subscriber.attributes, Text).label("attributes"),
    ]
    statement = select(*columns).outerjoin(groups, groups.c.id == subscriber.group_id)
    if chosen.list_id is not None:
        statement = statement.add_columns(
            type_coerce(subscription.status, Text).label("subscription")
        ).join(
            Subscription.__table__,
            (subscription.subscriber_id == subscriber.id)
            & (subscription.list_id == chosen.list_id),
        )
    statement = statement.where(matching(replace(chosen, list_id=None)))
    return statement.order_by(subscriber.id)


def header(chosen: SubscriberFilter) -> list[str]:
    """The export's column names."""
    return COLUMNS + (["subscription"] if chosen.list_id is not None else [])


def rows(chosen: SubscriberFilter) -> Iterator[list[str | None]]:
    """Every subscriber the filter picks, by id, as CSV cells (fetched a piece at a time),
    each cell that starts like a formula neutralised (``csv_files.neutralise``)."""
    result = db.session.execute(_statement(chosen).execution_options(yield_per=PIECE_ROWS))
    formula = "".join(csv_files.FORMULA_START)
    for row in result:
        yield [f"'{v}" if v and v[0] in formula else v for v in row]


def stream(chosen: SubscriberFilter, *, by: str = "", via: str = "") -> Iterator[str]:
    """The export as CSV text, in pieces of a few thousand rows: header first.

    Every export is written to the ``tocsin.audit`` log when it ends (or stops: a download
    cancelled half way): who (``by``, from where: ``via``), when it started, the filter and
    how many rows went out.
    """
    started, sent, complete, number = utcnow(), 0, False, 0
    try:
        buffer = io.StringIO()
        out = csv_files.writer(buffer)
        out.writerow(header(chosen))
        for number, row in enumerate(rows(chosen), 1):
            out.writerow(row)
            if number % PIECE_ROWS == 0:
                yield buffer.getvalue()
                sent = number
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
        sent, complete = number, True
    finally:
        described = " ".join(f"{k}={v}" for k, v in chosen.to_args().items()) or "everyone"
        audit(
            "subscribers exported: by=%s via=%s started=%s filter=[%s] rows=%d%s",
            by or "unknown",
            via or "unknown",
            started.isoformat(timespec="seconds"),
            described,
            sent,
            "" if complete else " (stopped before the end)",
        )
