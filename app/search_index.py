"""The index that finds a subscriber's name by any part of it, one per database.

PostgreSQL: a GIN trigram index (pg_trgm) on ``lower(name)``, which ``lower(name) LIKE
'%…%'`` uses. SQLite: an FTS5 table with the trigram tokenizer holding every name (its rows
are the subscribers' ids; triggers keep it in step), searched with a quoted phrase, which
matches anywhere in a name and ignores case. Both need three characters at least: a trigram
index cannot serve one or two, so shorter searches look at the start of names instead.

Migration ``a4d9e6b2c815`` creates them; the models do not describe them, so the schema
comparison (autogenerate, and the test that migrations match the models) leaves them out
through ``include_name``.
"""

from __future__ import annotations

from sqlalchemy import Select, column, func, literal_column, select, table
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Subscriber

FTS_TABLE = "subscriber_names"
TRIGRAM_INDEX = "ix_subscribers_name_trgm"
SHORTEST = 3  # characters a search needs to look inside names

_fts = table(FTS_TABLE, column("rowid"))


def include_name(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """For Alembic's ``include_name``: everything but the search index (FTS5 also makes
    ``subscriber_names_data``, ``_idx``, ``_docsize`` and ``_config``)."""
    if type_ == "table" and name and (name == FTS_TABLE or name.startswith(f"{FTS_TABLE}_")):
        return False
    return not (type_ == "index" and name == TRIGRAM_INDEX)


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: ``%``, ``_`` and ``\\`` literal."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_contains(text: str) -> ColumnElement[bool]:
    """SQL condition on ``subscribers``: the name holds ``text`` (``SHORTEST`` characters
    or more) anywhere, whatever the case, every character taken literally."""
    if _dialect() == "postgresql":
        return _lower_name_like(text)
    return Subscriber.id.in_(select(_fts.c.rowid).where(_fts_match(text)))


def first_ids_containing(
    text: str, where: ColumnElement[bool], after: int, limit: int
) -> Select[int]:
    """SELECT of the first ``limit`` ids after ``after``, in id order, of subscribers whose
    name holds ``text`` (as ``name_contains``) and who pass ``where``. On SQLite the FTS5
    table drives, in its own rowid order, so a page stops at ``limit`` matches; an ``IN``
    of its matches would read every one first (50 ms for 90,000 at a million rows)."""
    if _dialect() == "postgresql":
        return (
            select(Subscriber.id)
            .where(_lower_name_like(text), where, Subscriber.id > after)
            .order_by(Subscriber.id)
            .limit(limit)
        )
    return (
        select(Subscriber.id)
        .select_from(_fts.join(Subscriber, Subscriber.id == _fts.c.rowid))
        .where(_fts_match(text), where, _fts.c.rowid > after)
        .order_by(_fts.c.rowid)
        .limit(limit)
    )


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _lower_name_like(text: str) -> ColumnElement[bool]:
    return func.lower(Subscriber.name).like(f"%{escape_like(text.lower())}%", escape="\\")


def _fts_match(text: str) -> ColumnElement[bool]:
    """A quoted phrase: the trigram tokenizer matches it anywhere, in any case."""
    phrase = '"' + text.replace('"', '""') + '"'
    return literal_column(FTS_TABLE).op("MATCH")(phrase)
