"""The sandboxed Jinja environment every organiser-written template runs in."""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from emails.errors import RenderError

# A rendered message larger than this is a template bug (or an attack), not a newsletter.
MAX_OUTPUT_CHARS = 2_000_000


class StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute is an error rather than empty text."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} is not available")


def make_environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    """Return a sandbox with no loader (so no include/import) and no globals at all."""
    env = StrictSandbox(autoescape=autoescape, undefined=Undefined)
    env.globals = {}
    return env


HTML_ENV = make_environment(autoescape=True)
TEXT_ENV = make_environment(autoescape=False)


class SafeTemplate:
    """A compiled template whose rendering is bounded and never leaks Jinja internals."""

    def __init__(self, source: str, *, html: bool, what: str) -> None:
        env = HTML_ENV if html else TEXT_ENV
        self.what = what
        try:
            self._template = env.from_string(source)
        except TemplateSyntaxError as exc:
            raise RenderError(f"{what}: {exc.message}", exc.lineno) from None

    def render(self, context: dict[str, Any]) -> str:
        """Render with plain data; raise ``RenderError`` on any failure or oversized output."""
        try:
            chunks: list[str] = []
            size = 0
            for chunk in self._template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise RenderError(f"{self.what}: output is larger than {MAX_OUTPUT_CHARS}")
                chunks.append(chunk)
        except SecurityError as exc:
            raise RenderError(f"{self.what}: not allowed: {exc}") from None
        except RenderError:
            raise
        except Exception as exc:  # noqa: BLE001 - any template fault becomes one clear error
            raise RenderError(f"{self.what}: {type(exc).__name__}: {exc}") from None
        return "".join(chunks)
