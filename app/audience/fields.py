"""What a subscriber's fields accept: names, country codes, and the domain of erased rows."""

from __future__ import annotations

from app.errors import Malformed, TooLong

MAX_NAME = 200
# Deleted subscribers who had been mailed keep an anonymous row at this domain, as erased
# ones do (see ``preferences.erase``); no search shows them.
ERASED_DOMAIN = "erased.invalid"


def clean_name(name: str) -> str:
    """Return a one-line name: no control characters, at most 200 characters."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if len(cleaned) > MAX_NAME:
        raise TooLong("name", "the name", MAX_NAME)
    return cleaned


def is_country_code(code: str) -> bool:
    """Whether ``code`` (already in capitals) is an ISO 3166 alpha-2 shaped code."""
    return len(code) == 2 and code.isascii() and code.isalpha()


def clean_country(country: str) -> str:
    """Return an ISO 3166 alpha-2 code in capitals, or raise a clear error."""
    code = country.strip().upper()
    if not is_country_code(code):
        raise Malformed("country", country, "a two-letter country code such as UA")
    return code
