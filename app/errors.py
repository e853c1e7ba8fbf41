"""Domain errors: services raise these with the facts; views and the CLI translate them."""

from __future__ import annotations


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


class Conflict(TocsinError):
    """The action does not fit the current state (e.g. sending a campaign twice)."""


class TemplateProblem(InvalidInput):
    """A template cannot be compiled or rendered; carries the line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}", "template")
        self.line = line
