"""Language tags and the rule that picks a variant for a subscriber."""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.errors import InvalidInput

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

# Names shown in the panel and on public pages; any valid tag is accepted regardless.
NAMES = {
    "en": "English",
    "uk": "Українська",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "pl": "Polski",
    "pt": "Português",
    "pt-BR": "Português (Brasil)",
    "it": "Italiano",
    "ru": "Русский",
    "ar": "العربية",
    "cs": "Čeština",
    "ka": "ქართული",
}


def normalize_tag(tag: str) -> str:
    """Return a BCP 47 tag in canonical case (``pt-br`` -> ``pt-BR``); raise if malformed."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        raise InvalidInput(
            f"{tag!r} is not a language tag such as 'en', 'uk' or 'pt-BR'", "language"
        )
    primary, *rest = tag.split("-")
    parts = [primary.lower()]
    for part in rest:
        if len(part) == 2:
            parts.append(part.upper())
        elif len(part) == 4:
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def choose_variant(
    language: str, available: Iterable[str], fallbacks: Iterable[str], default: str
) -> str | None:
    """Pick the variant for a subscriber's language.

    Exact tag, then its primary language (``pt-BR`` -> ``pt``), then the campaign's explicit
    fallback chain in order, then the default. Never an implicit jump between languages.
    Returns ``None`` when not even the default is available.
    """
    ready = set(available)
    primary = language.split("-")[0]
    for candidate in (language, primary, *fallbacks, default):
        if candidate in ready:
            return candidate
    return None
