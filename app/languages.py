"""Language tags and the rule that picks a variant for a subscriber.

A tag that is stored (typed in a form, a CSV file, a campaign) must be well formed and
registered: every subtag in the IANA Language Subtag Registry (``langcodes`` carries it, no
network). Country codes typed as languages (``ua`` for Ukrainian) are the common mistake:
the error, or the warning when the code happens to be a language too (``se`` is Northern
Sami, not Swedish), says which tag was probably meant.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import langcodes
from babel.core import negotiate_locale

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


# Country codes typed where a language tag belongs: code -> (the language meant, the
# country). Where the code is a language as well, its name says which one it is.
COUNTRY_CODES: dict[str, tuple[str, str]] = {
    "ua": ("uk", "Ukraine"),
    "gr": ("el", "Greece"),
    "cz": ("cs", "Czechia"),
    "dk": ("da", "Denmark"),
    "se": ("sv", "Sweden"),
    "jp": ("ja", "Japan"),
    "cn": ("zh", "China"),
    "ir": ("fa", "Iran"),
    "us": ("en", "the United States"),
    "gb": ("en", "the United Kingdom"),
    "at": ("de", "Austria"),
    "by": ("be", "Belarus"),
    "kz": ("kk", "Kazakhstan"),
    "ge": ("ka", "Georgia"),
    "il": ("he", "Israel"),
    "vn": ("vi", "Vietnam"),
    "rs": ("sr", "Serbia"),
    "al": ("sq", "Albania"),
    "md": ("ro", "Moldova"),
    "ee": ("et", "Estonia"),
    "si": ("sl", "Slovenia"),
    "kr": ("ko", "South Korea"),
    "ba": ("bs", "Bosnia and Herzegovina"),
    "mx": ("es", "Mexico"),
}
# Registered languages whose two letters are also one of the countries above.
_ALSO_A_LANGUAGE = {
    "se": "Northern Sami",
    "ee": "Ewe",
    "si": "Sinhala",
    "kr": "Kanuri",
    "ba": "Bashkir",
}
# langcodes maps these to a tag that is a choice, not a correction (Tagalog -> Filipino).
_NO_ALIAS = {"tl", "tgl"}


def normalize_tag(tag: str, *, registered: bool = True) -> str:
    """Return a BCP 47 tag in canonical case (``pt-br`` -> ``pt-BR``); raise if malformed,
    or (``registered``, the default: for every tag that is stored) if it is not in the IANA
    registry. Looking up what is stored already (a filter) passes ``registered=False``."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        raise InvalidInput(
            f"{tag!r} is not a language tag such as 'en', 'uk' or 'pt-BR'", "language"
        )
    tag = _canonical_case(tag)
    if registered and not is_registered(tag):
        raise InvalidInput(unknown_tag_message(tag), "language")
    return tag


def _canonical_case(tag: str) -> str:
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


@functools.lru_cache(maxsize=4096)
def is_registered(tag: str) -> bool:
    """Whether every subtag of a well-formed tag is in the IANA registry."""
    return langcodes.tag_is_valid(tag)


def unknown_tag_message(tag: str) -> str:
    """Why a well-formed tag is refused, with the tag probably meant when there is one."""
    return f"{tag!r} is not a known language tag: {unknown_tag_reason(tag)}"


def unknown_tag_reason(tag: str) -> str:
    """Why a well-formed, unregistered tag is no language, and what was probably meant."""
    primary = tag.split("-")[0]
    if primary in COUNTRY_CODES:
        meant, country = COUNTRY_CODES[primary]
        return (
            f"{primary.upper()} is the country code of {country}; "
            f"did you mean {_with_primary(tag, meant)}?"
        )
    return "it is not in the IANA registry"


@dataclass(frozen=True)
class TagCheck:
    """A typed value as a language tag: ``tag`` in canonical case ("" when malformed),
    ``known`` when registered, and ``note``: why it is unknown, or for a known tag that is
    a common mistake, what was probably meant ("" when there is nothing to say)."""

    tag: str
    known: bool
    note: str


@functools.lru_cache(maxsize=4096)
def check_tag(value: str) -> TagCheck:
    """Check a typed value without raising; cached per distinct value (imports call it per
    row)."""
    try:
        tag = normalize_tag(value, registered=False)
    except InvalidInput:
        return TagCheck("", False, "")
    if not is_registered(tag):
        return TagCheck(tag, False, unknown_tag_reason(tag))
    return TagCheck(tag, True, confusion(tag))


@functools.lru_cache(maxsize=4096)
def confusion(tag: str) -> str:
    """For a registered tag that is a common mistake, what to say ("" when none): a country
    code that is also a language (``se``), or another spelling of a language (``ukr``)."""
    primary = tag.split("-")[0]
    if primary in _ALSO_A_LANGUAGE:
        meant, country = COUNTRY_CODES[primary]
        return (
            f"{tag!r} is {_ALSO_A_LANGUAGE[primary]} ({primary.upper()} is the country code of "
            f"{country}): did you mean {_with_primary(tag, meant)}?"
        )
    if primary in _NO_ALIAS:
        return ""
    try:
        standard = langcodes.standardize_tag(tag)
    except ValueError:
        return ""
    if standard != tag and standard.casefold() != tag.casefold():
        return f"{tag!r} is another spelling of {standard}: did you mean {standard}?"
    return ""


def _with_primary(tag: str, primary: str) -> str:
    return "-".join([primary, *tag.split("-")[1:]])


def primary_subtag(tag: str) -> str:
    """The language a tag narrows (``pt-BR`` -> ``pt``)."""
    return tag.split("-")[0]


def fallback_chain(
    *tags: str | None, default: str | None = None, then_primaries: bool = True
) -> list[str]:
    """The languages to try, in order and each once: the first of ``tags`` and its primary
    subtag, then each further tag and its primary subtag (only the tag itself when not
    ``then_primaries``: an explicit chain), then ``default``. Empty tags are left out."""
    chain: list[str] = []
    for position, tag in enumerate(tags):
        if tag:
            chain.append(tag)
            if position == 0 or then_primaries:
                chain.append(primary_subtag(tag))
    if default:
        chain.append(default)
    return list(dict.fromkeys(chain))


def best_match(preferred: Iterable[str], available: Iterable[str]) -> str | None:
    """The first of ``preferred`` (a browser's languages, most wanted first) that is
    ``available``, itself or by its primary subtag (Babel's negotiation)."""
    return negotiate_locale(list(preferred), list(available), sep="-")


def choose_variant(
    language: str, available: Iterable[str], fallbacks: Iterable[str], default: str
) -> str | None:
    """Pick the variant for a subscriber's language.

    Exact tag, then its primary language (``pt-BR`` -> ``pt``), then the campaign's explicit
    fallback chain in order, then the default. Never an implicit jump between languages.
    Returns ``None`` when not even the default is available.
    """
    ready = set(available)
    chain = fallback_chain(language, *fallbacks, default=default, then_primaries=False)
    return next((candidate for candidate in chain if candidate in ready), None)
