"""Domain errors: services raise these with the facts; views and the CLI translate them.

``InvalidInput`` names the field a refused value was typed into; its kinds below carry the
facts of the common refusals as attributes and word the message themselves. A site whose
wording differs from a kind's usual sentence passes ``message`` and keeps the facts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar


class TocsinError(Exception):
    """Base of every error a user can cause and be told about."""


class ConfigError(TocsinError):
    """A setting is missing or wrong."""


class NotFound(TocsinError):
    """The named thing does not exist."""


class InvalidInput(TocsinError):
    """A value given by a user is not acceptable; the message says why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Required(InvalidInput):
    """A value that must be given is missing: "a campaign needs a name"."""

    def __init__(self, field: str, owner: str = "", *, message: str | None = None) -> None:
        self.owner = owner
        super().__init__(message or f"{owner} needs a {field}", field)


class TooLong(InvalidInput):
    """A value is longer than its limit: "the city is longer than 200 characters"."""

    def __init__(
        self,
        field: str,
        what: str,
        limit: int,
        *,
        plural: bool = False,
        message: str | None = None,
    ) -> None:
        self.what, self.limit = what, limit
        verb = "are" if plural else "is"
        super().__init__(message or f"{what} {verb} longer than {limit} characters", field)


class TooMany(InvalidInput):
    """More of something than allowed at once: "choose at most 500 subscribers at once"."""

    def __init__(self, field: str, what: str, limit: int, *, message: str | None = None) -> None:
        self.what, self.limit = what, limit
        super().__init__(message or f"at most {limit} {what}", field)


class NotOneOf(InvalidInput):
    """A value is not among the choices: "'x' is not one of a, b"."""

    def __init__(
        self, field: str, value: object, choices: Iterable[str], *, message: str | None = None
    ) -> None:
        self.value, self.choices = value, tuple(choices)
        super().__init__(message or f"{value!r} is not one of {', '.join(self.choices)}", field)


E = TypeVar("E", bound=enum.Enum)


def member_of(kind: type[E], value: object, field: str, *, message: str | None = None) -> E:
    """``kind(value)`` for a value as typed, or ``NotOneOf`` naming the field and choices."""
    try:
        return kind(value)
    except ValueError:
        raise NotOneOf(field, value, [str(m.value) for m in kind], message=message) from None


class NoSuch(InvalidInput):
    """A reference finds nothing: "no group with id 3", "no list with slug 'x'".

    ``key`` is what was looked for as the reader should see it (quoted or joined already);
    ``by`` says how it was looked for ("with id", "with slug", "named")."""

    def __init__(
        self,
        field: str,
        kind: str,
        key: object,
        *,
        by: str = "with id",
        message: str | None = None,
    ) -> None:
        self.kind, self.key, self.by = kind, key, by
        super().__init__(message or f"no {kind} {by} {key}", field)


class Malformed(InvalidInput):
    """A value does not have the expected form: "'x' is not a two-letter country code"."""

    def __init__(
        self, field: str, value: object, expected: str, *, message: str | None = None
    ) -> None:
        self.value, self.expected = value, expected
        super().__init__(message or f"{value!r} is not {expected}", field)


class Taken(InvalidInput):
    """A value that must be unique is used already: "a group named 'x' exists already"."""

    def __init__(self, field: str, kind: str, value: object, *, message: str | None = None) -> None:
        self.kind, self.value = kind, value
        super().__init__(message or f"a {kind} named {value!r} exists already", field)


class Conflict(TocsinError):
    """The action does not fit the current state (e.g. sending a campaign twice)."""


class TemplateProblem(InvalidInput):
    """A template cannot be compiled or rendered; carries the line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}", "template")
        self.line = line
