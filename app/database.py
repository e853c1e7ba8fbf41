"""Per-dialect connection settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Executable,
    Row,
    String,
    Table,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import ColumnElement, SQLColumnExpression


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Give SQLite connections WAL, a busy timeout and foreign keys, for several processes,
    and ``unicode_lower`` (see ``lowered``)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's lower() folds ASCII only; searches that ignore case need every letter.
        dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def lowered(expression: SQLColumnExpression[str]) -> ColumnElement[str]:
    """``lower(expression)`` folding every letter, as Python's ``str.lower`` does, on both
    databases (PostgreSQL's lower() does with a UTF-8 ctype; SQLite's folds only ASCII)."""
    from app.extensions import db

    if db.session.get_bind().dialect.name == "sqlite":
        return func.unicode_lower(expression, type_=String)
    return func.lower(expression)


def insert_or_ignore(
    table: Table, connection: Connection | None = None
) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT for ``table`` that skips rows which would break a unique constraint."""
    from app.extensions import db

    bind = connection if connection is not None else db.session.get_bind()
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def insert_or_increment(
    table: Table, values: dict[str, object], column: str
) -> ReturningInsert[int]:
    """Return an INSERT of ``values`` that adds 1 to ``column`` when the row exists."""
    from app.extensions import db

    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    keys = [c.name for c in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys, set_={column: table.c[column] + 1}
    ).returning(table.c[column])


def run_counted(statement: Executable) -> int:
    """Run an UPDATE or DELETE through the session; return how many rows it matched. The
    session types every result as a plain ``Result``; for these statements it is a
    ``CursorResult``, which has the count."""
    from app.extensions import db

    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount


def claim_each(table: Table, limit: int) -> Iterator[Row[Any]]:
    """Yield up to ``limit`` waiting rows of a request table, oldest first, each claimed by
    deleting it in a transaction the caller then commits (applied) or rolls back (the row
    waits again). A row another worker deleted first is skipped, so each is applied once, and
    a worker that dies leaves its row waiting."""
    from app.extensions import db

    waiting = db.session.execute(select(table).order_by(table.c.id).limit(limit)).all()
    db.session.commit()  # each row below is its own transaction, begun by its claim
    for row in waiting:
        if not run_counted(delete(table).where(table.c.id == row.id)):
            db.session.rollback()  # another worker has it
            continue
        yield row
