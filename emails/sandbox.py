"""The sandboxed Jinja environment every organiser-written template runs in."""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from emails.errors import RenderError

# A rendered message larger than this is a template bug (or an attack), not a newsletter.
MAX_OUTPUT_CHARS = 2_000_000


MAX_REPEAT_CHARS = 100_000


class StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute is an error rather than empty text,
    and ``*`` and ``**`` cannot build huge values before the output cap could see them."""

    intercepted_binops = frozenset(["*", "**"])

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} is not available")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError("exponents above 100 are not allowed")
        if operator == "*":
            sized = left if isinstance(left, str | list | tuple) else right
            times = right if sized is left else left
            if (
                isinstance(sized, str | list | tuple)
                and isinstance(times, int)
                and (len(sized) * times > MAX_REPEAT_CHARS)
            ):
                raise SecurityError(f"repeating a value past {MAX_REPEAT_CHARS} items")
        return super().call_binop(context, operator, left, right)


def make_environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    """Return a sandbox with no loader (so no include/import) and no globals at all."""
    env = StrictSandbox(autoescape=autoescape, undefined=Undefined)
    env.globals = {}
    # Values are escaped in HTML and nothing may switch that off: no |safe, no autoescape
    # blocks (the body was sanitised before it became a template; its values must stay text).
    env.filters.pop("safe", None)
    return env


HTML_ENV = make_environment(autoescape=True)
TEXT_ENV = make_environment(autoescape=False)


class SafeTemplate:
    """A compiled template whose rendering is bounded and never leaks Jinja internals."""

    def __init__(self, source: str, *, html: bool, what: str) -> None:
        env = HTML_ENV if html else TEXT_ENV
        self.what = what
        try:
            tree = env.parse(source)
            if html and any(True for _ in tree.find_all(nodes.ScopedEvalContextModifier)):
                raise RenderError(f"{what}: autoescape blocks are not allowed")
            self._template = env.from_string(tree)
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
