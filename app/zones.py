"""IANA time zones: what organisers schedule in and read times in."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import Malformed


def zone_named(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name`` or raise a clear ``InvalidInput``."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise Malformed("timezone", name, "a time zone such as 'Europe/Kyiv' or 'UTC'") from None
