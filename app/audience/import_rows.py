"""One CSV row of an import, checked: the column mapping, and what each field accepts.

A row is rejected (with the reason) when importing it would store something wrong or lose
something; it is imported with a warning when a field falls back to a safe default.
"""

from __future__ import annotations

import functools
import json
import re
from array import array
from dataclasses import dataclass, field
from typing import Any

from app.addresses import normalize_email
from app.audience import csv_files, suppressions
from app.audience.fields import MAX_NAME, clean_country, clean_name
from app.errors import InvalidInput, Malformed, NoSuch, Required
from app.languages import NAMES, check_tag

SINGLE_FIELDS = ("email", "name", "language", "group", "country", "attributes")
ATTRIBUTE = "attribute:"
IGNORE = "ignore"
MAX_ATTRIBUTE = 1000
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}$")
_NUMBER_LIKE = re.compile(r"^[+-][\d\s().,/-]*$")
# What a header cell is taken to mean before the organiser changes it.
_GUESSES = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "email address": "email",
    "address": "email",
    "name": "name",
    "full name": "name",
    "language": "language",
    "lang": "language",
    "locale": "language",
    "group": "group",
    "country": "country",
    "attributes": "attributes",
}
# Language names a spreadsheet may hold instead of tags.
_LANGUAGE_NAMES = {name.casefold(): tag for tag, name in NAMES.items()} | {
    "english": "en",
    "ukrainian": "uk",
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "polish": "pl",
    "portuguese": "pt",
    "italian": "it",
    "russian": "ru",
    "arabic": "ar",
    "czech": "cs",
    "georgian": "ka",
}
# An unquoted dot-atom local part: the common case, which needs no full parse.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


def _has_break(value: str) -> bool:
    return "\n" in value or "\r" in value or "\x00" in value


class RowRejected(Exception):
    """This row is not imported; the message says why."""


def guess_mapping(header: list[str]) -> dict[str, str]:
    """A first mapping from header names: known names to their field, the rest ignored."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        guess = _GUESSES.get(column.strip().casefold().replace("_", " "), IGNORE)
        if guess in taken:
            guess = IGNORE
        taken.add(guess)
        mapping[column] = guess
    return mapping


def check_mapping(header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Return the mapping with only known columns and fields; raise when it cannot work."""
    unknown = [column for column in mapping if column not in header]
    if unknown:
        raise NoSuch(
            "mapping", "column", repr(unknown[0]), message=f"the file has no column {unknown[0]!r}"
        )
    chosen = {column: value for column, value in mapping.items() if value and value != IGNORE}
    seen: set[str] = set()
    for column, value in chosen.items():
        if value.startswith(ATTRIBUTE):
            if not _ATTRIBUTE_KEY.match(value[len(ATTRIBUTE) :]):
                raise Malformed(
                    "mapping",
                    value,
                    "an attribute name",
                    message=f"column {column!r}: an attribute name has letters, digits, _ . - "
                    "or spaces, at most 64",
                )
        elif value not in SINGLE_FIELDS:
            raise Malformed(
                "mapping", value, "a field", message=f"column {column!r}: {value!r} is not a field"
            )
        if value in seen:
            raise InvalidInput(f"two columns are mapped to {value!r}", "mapping")
        seen.add(value)
    if "email" not in seen:
        raise Required("mapping", message="map one column to the email address")
    return chosen


# A domain as addresses are stored, validated once per distinct domain.
_domain = functools.lru_cache(maxsize=4096)(suppressions.normalize_domain)


def normalize_address(text: str) -> str:
    """``normalize_email``, with a fast path for plain ``local@domain`` addresses:
    email-validator runs once per domain and the local part is matched as a dot-atom."""
    address = text.strip()
    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and _DOT_ATOM.match(local) and "=?" not in local:
        try:
            normalized = f"{local}@{_domain(domain)}"
        except InvalidInput:
            normalized = ""
        if normalized and len(normalized) <= 254:
            return normalized.lower()
    return normalize_email(address)


@functools.lru_cache(maxsize=1024)
def language_of(value: str) -> tuple[str, str]:
    """A cell as a language, never raising (cached per distinct value: a file of a million
    rows holds a few languages): ``(tag, "")`` for a registered tag or a language's name;
    ``(tag, what was probably meant)`` for a registered tag that is a common mistake (``se``
    is Sami, not Swedish); ``("", why)`` when it is no language ("" when malformed)."""
    if tag := _LANGUAGE_NAMES.get(value.strip().casefold()):
        return tag, ""
    checked = check_tag(value)
    return (checked.tag if checked.known else ""), checked.note


@dataclass(slots=True)
class Candidate:
    """A row that passed its checks: the address and the values to store."""

    line: int
    cells: list[str]
    email: str
    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    email_hash: str = ""
    uid: str = ""  # the public id a new subscriber gets
    stored: str = ""  # the row as JSON, for the insert of new subscribers


class SeenAddresses:
    """The addresses met so far in one file, as 64 bits of their keyed hash in an open-
    addressing table: 16 bytes an address, where a Python set of ints takes about 70."""

    def __init__(self) -> None:
        self.size = 0
        self.slots = array("Q", bytes(8 * 4096))

    def add(self, email_hash: str) -> bool:
        """Remember an address; return False when it was already there."""
        key = int(email_hash[:16], 16) or 1
        slots, mask = self.slots, len(self.slots) - 1
        index = key & mask
        while (found := slots[index]) != 0:
            if found == key:
                return False
            index = (index + 1) & mask
        slots[index] = key
        self.size += 1
        if 2 * self.size > len(slots):
            self._grow()
        return True

    def _grow(self) -> None:
        old = self.slots
        self.slots = array("Q", bytes(16 * len(old)))
        mask = len(self.slots) - 1
        for key in old:
            if key:
                index = key & mask
                while self.slots[index]:
                    index = (index + 1) & mask
                self.slots[index] = key


class RowChecker:
    """Checks rows against a mapping; built once per import."""

    def __init__(
        self,
        header: list[str],
        mapping: dict[str, str],
        default_language: str | None,
        groups: dict[str, int],
    ) -> None:
        """``default_language`` is what a new subscriber gets when the cell is not a
        language; None when rows only update stored subscribers (a bad cell changes
        nothing)."""
        self.columns = [(header.index(column), column, f) for column, f in mapping.items()]
        self.default_language = default_language
        self.groups = groups
        self.instead = {
            "language": f"imported as {default_language}" if default_language else "unchanged",
            "country": "left empty" if default_language else "unchanged",
            "group": "imported without a group" if default_language else "group unchanged",
        }

    def check(self, line: int, cells: list[str]) -> Candidate:
        """Return the row's values; raise ``RowRejected`` with the reason when it is refused."""
        email = ""
        values: dict[str, Any] = {}
        warnings: list[str] = []
        suspect = csv_files.has_bad_bytes("".join(cells))
        for index, column, target in self.columns:
            value = csv_files.unneutralise(cells[index].strip()) if index < len(cells) else ""
            if not value:
                continue
            if suspect and csv_files.has_bad_bytes(value):
                raise RowRejected(f"column {column!r} holds bytes that are not valid text")
            if target == "email":
                email = self._address(column, value)
            else:
                self._field(column, target, value, values, warnings)
        if not email:
            raise RowRejected("no email address")
        return Candidate(line, cells, email, values, warnings)

    def _address(self, column: str, value: str) -> str:
        if _has_break(value):
            raise RowRejected(f"column {column!r} holds a line break or NUL")
        try:
            return normalize_address(value)
        except InvalidInput as exc:
            raise RowRejected(str(exc)) from None

    def _field(
        self, column: str, target: str, value: str, values: dict[str, Any], warnings: list[str]
    ) -> None:
        attribute = target.startswith(ATTRIBUTE)
        if "\x00" in value or (not attribute and _has_break(value)):
            raise RowRejected(f"column {column!r} holds a line break or NUL")
        formula = value.startswith(csv_files.FORMULA_START) and not _NUMBER_LIKE.match(value)
        if formula and (target == "name" or attribute):
            warnings.append(f"column {column!r} starts like a formula; stored as text")
        if target == "name":
            if len(value) > MAX_NAME:
                raise RowRejected(f"column {column!r}: a name has at most {MAX_NAME} characters")
            # clean_name, quicker for the usual name with nothing unprintable in it.
            values["name"] = " ".join(value.split()) if value.isprintable() else clean_name(value)
        elif target == "language":
            tag, note = language_of(value)
            if tag:
                values["language"] = tag
                if note:
                    warnings.append(f"language {tag} imported as written; {note}")
            elif note:
                warnings.append(f"unknown language {value!r} ({note}); {self.instead['language']}")
            else:
                warnings.append(f"unknown language {value!r}; {self.instead['language']}")
        elif target == "country":
            try:
                values["country"] = clean_country(value)
            except InvalidInput:
                warnings.append(
                    f"{value!r} is not a two-letter country code; {self.instead['country']}"
                )
        elif target == "group":
            if (group_id := self.groups.get(value.casefold())) is None:
                warnings.append(f"no group named {value!r}; {self.instead['group']}")
            else:
                values["group_id"] = group_id
        elif target == "attributes":
            values.setdefault("attributes", {}).update(self._json(column, value))
        else:
            if len(value) > MAX_ATTRIBUTE:
                raise RowRejected(
                    f"column {column!r}: an attribute has at most {MAX_ATTRIBUTE} characters"
                )
            values.setdefault("attributes", {})[target[len(ATTRIBUTE) :]] = value

    @staticmethod
    def _json(column: str, value: str) -> dict[str, Any]:
        try:
            loaded = json.loads(value)
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            raise RowRejected(f"column {column!r} is not a JSON object")
        return loaded
