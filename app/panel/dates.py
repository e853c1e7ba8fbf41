"""How the panel shows a moment: compact ("8 Dec 2026, 14:05"), in a named time zone, in
the panel's locale through Babel, so that a translated panel changes nothing here.

Flask-Babel's own ``format_datetime`` converts to one application-wide zone; a schedule is
shown in the zone it was set in and every other time in the organiser's, so Babel's
function is called with the zone and Flask-Babel's locale."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from flask_babel import get_locale
from flask_login import current_user

PATTERN = "d MMM y, HH:mm"  # CLDR pattern: 8 Dec 2026, 14:05


def when(value: datetime | None, zone: str | None = None) -> str:
    """A stored UTC time in ``zone`` (else the organiser's own), compactly; "–" for none."""
    if value is None:
        return "–"
    tz = _zone(zone or getattr(current_user, "timezone", None) or "UTC")
    return format_datetime(value, PATTERN, tzinfo=tz, locale=get_locale() or "en")


def zone_name(value: datetime | None, zone: str | None = None) -> str:
    """The zone's abbreviation at that moment ("CET", "EEST"), for beside ``when``."""
    if value is None:
        return ""
    tz = _zone(zone or getattr(current_user, "timezone", None) or "UTC")
    return value.astimezone(tz).strftime("%Z")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
