"""Column helpers shared by the models."""

from __future__ import annotations

import base64
import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Enum, Integer
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_uid() -> str:
    """Return a random public identifier: what tokens and URLs carry instead of row ids."""
    return secrets.token_urlsafe(16)


def new_uids(count: int) -> list[str]:
    """``count`` identifiers like ``new_uid``'s, from one read of the system's randomness."""
    raw = secrets.token_bytes(16 * count)
    return [
        base64.urlsafe_b64encode(raw[i : i + 16]).rstrip(b"=").decode()
        for i in range(0, 16 * count, 16)
    ]


def str_enum(enum_class: type[enum.Enum]) -> Enum:
    """Store a string enum by value, as VARCHAR with a CHECK, the same on every database."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        name=enum_class.__name__.lower(),
    )


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
