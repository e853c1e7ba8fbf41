"""The sandboxed Jinja environment every organiser-written template runs in."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from emails.errors import RenderError

# A rendered message larger than this is a template bug (or an attack), not a newsletter.
MAX_OUTPUT_CHARS = 2_000_000


MAX_REPEAT_CHARS = 100_000
# Loops may take this many steps per rendering, and a rendering this many seconds in all.
MAX_LOOP_STEPS = 100_000
MAX_RENDER_SECONDS = 2.0
# Filters whose argument sizes their output (``'x' | center(10**8)``) are capped too.
MAX_WIDTH = 1_000

_budget: ContextVar[list[float]] = ContextVar("render_budget")


def _bounded(iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield from a loop's iterable while the current rendering has steps and time left."""
    budget = _budget.get(None)
    if budget is None:  # rendered outside SafeTemplate.render: no budget to count against
        yield from iterable
        return
    for item in iterable:
        budget[0] -= 1
        if budget[0] < 0:
            raise SecurityError(f"loops took more than {MAX_LOOP_STEPS} steps")
        if budget[0] % 1024 == 0 and time.monotonic() > budget[1]:
            raise SecurityError(f"rendering took more than {MAX_RENDER_SECONDS} s")
        yield item


def _capped(name: str, function: Any) -> Any:
    def capped(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
        if isinstance(width, int) and width > MAX_WIDTH:
            raise SecurityError(f"{name} wider than {MAX_WIDTH}")
        return function(value, width, *args, **kwargs)

    return capped


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
    env.filters["_tocsin_bounded"] = _bounded
    for name in ("center", "indent", "wordwrap", "truncate"):
        env.filters[name] = _capped(name, env.filters[name])
    return env


def _bound_loops(tree: nodes.Template) -> nodes.Template:
    """Route every ``for`` loop's iterable through the per-rendering step budget."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, "_tocsin_bounded", [], [], None, None)
    return tree


HTML_ENV = make_environment(autoescape=True)
TEXT_ENV = make_environment(autoescape=False)


class SafeTemplate:
    """A compiled template whose rendering is bounded and never leaks Jinja internals."""

    def __init__(
        self, source: str, *, html: bool, what: str, names: frozenset[str] | None = None
    ) -> None:
        """Compile ``source``; with ``names``, any other free variable is refused."""
        env = HTML_ENV if html else TEXT_ENV
        self.what = what
        try:
            tree = env.parse(source)
            if html and any(True for _ in tree.find_all(nodes.ScopedEvalContextModifier)):
                raise RenderError(f"{what}: autoescape blocks are not allowed")
            for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport)):
                raise RenderError(f"{what}: other templates cannot be included", node.lineno)
            if tree.find(nodes.Extends) is not None:
                raise RenderError(f"{what}: templates cannot extend other templates")
            if any(node.name == "self" for node in tree.find_all(nodes.Name)):
                raise RenderError(f"{what}: 'self' is not available")
            unknown = meta.find_undeclared_variables(tree) - (names or frozenset())
            if names is not None and unknown:
                first = min(
                    (node.lineno for node in tree.find_all(nodes.Name) if node.name in unknown),
                    default=None,
                )
                raise RenderError(
                    f"{what}: unknown value {', '.join(sorted(unknown))}; "
                    f"available: {', '.join(sorted(names))}",
                    first,
                )
            self._template = env.from_string(_bound_loops(tree))
        except TemplateSyntaxError as exc:
            raise RenderError(f"{what}: {exc.message}", exc.lineno) from None

    def render(self, context: dict[str, Any]) -> str:
        """Render with plain data; raise ``RenderError`` on any failure or oversized output."""
        started = time.monotonic()
        token = _budget.set([MAX_LOOP_STEPS, started + MAX_RENDER_SECONDS])
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
        except RecursionError:
            raise RenderError(f"{self.what}: a macro calls itself too deeply") from None
        except RenderError:
            raise
        except Exception as exc:  # noqa: BLE001 - any template fault becomes one clear error
            raise RenderError(f"{self.what}: {type(exc).__name__}: {exc}") from None
        finally:
            _budget.reset(token)
        return "".join(chunks)
