"""Errors raised while rendering; the app maps them to its own domain errors."""

from __future__ import annotations


class RenderError(ValueError):
    """A template cannot be compiled or rendered; ``line`` is set when Jinja knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"{message} (line {line})")
        self.line = line
