"""The sandboxed Jinja environment every organiser-written template runs in.

Jinja's sandbox stops a template from reaching Python internals; this module also stops it
from exhausting memory or time. Every place a value can grow is bounded *before* the large
allocation happens, not only the final output:

* No single value a template builds (a string, a list, a dict, counting what it contains)
  may exceed ``MAX_VALUE_SIZE`` characters or items, and no number ``MAX_INT_BITS`` bits.
  Method calls (``x.ljust(n)``, ``x.replace(a, b)``, ``sep.join(xs)``, ``s.format(...)``),
  every filter, the operators ``+ * ** %``, ``~`` concatenation, list and dict literals and
  captured blocks (``{% set %}…{% endset %}``, macros, ``{% filter %}``) estimate their
  result from their arguments first, and refuse past the limit.
* Widths, paddings, precisions and counts (``center``, ``ljust``, ``zfill``, ``indent``,
  ``'{:>n}'``, ``'%.nf'``, ``slice``, ``batch``, ``round``…) may not exceed ``MAX_WIDTH``.
* A rendering takes at most ``MAX_LOOP_STEPS`` loop iterations and calls and at most
  ``MAX_RENDER_SECONDS``; it prints at most ``MAX_PRINTED_CHARS`` into captured blocks (a
  loop inside one would otherwise grow it unseen), and its output is at most
  ``MAX_OUTPUT_CHARS``.
* Only data can be printed: a function, method, class or generator is refused (its text
  would show a memory address), wherever it would be turned into text.

Every refusal is a ``RenderError`` naming the template line.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import time
from collections.abc import Callable, Collection, ItemsView, Iterable, Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    SecurityError,
)
from jinja2.utils import _PassArg
from markupsafe import Markup, escape

from emails.errors import RenderError

# A rendered message larger than this is a template bug (or an attack), not a newsletter.
MAX_OUTPUT_CHARS = 2_000_000
# What one rendering may print into captured blocks (set blocks, macros), which its output
# cap does not see.
MAX_PRINTED_CHARS = 2 * MAX_OUTPUT_CHARS
# No single value may hold more characters or items than this (about what mail clients show
# before clipping a message), counting the contents of lists and dicts.
MAX_VALUE_SIZE = 100_000
MAX_INT_BITS = 100_000
# Widths, paddings, precisions and counts given to methods, filters and formats.
MAX_WIDTH = 1_000
# Loops and calls may take this many steps per rendering, and a rendering this many seconds
# (a message renders in milliseconds; each recipient renders it again, up to three parts).
MAX_LOOP_STEPS = 100_000
MAX_RENDER_SECONDS = 0.5

# Per rendering: [steps left, deadline (monotonic), printable characters left].
_budget: ContextVar[list[float]] = ContextVar("render_budget")

_TEMPLATE_FILE = "<template>"  # the file name Jinja gives a template's rewritten frames


# --- the budget of one rendering -------------------------------------------------------


def _tick() -> None:
    """Count one step (a loop iteration or a call) against the rendering's budget."""
    budget = _budget.get(None)
    if budget is None:  # compiling (constant folding) or rendered outside SafeTemplate
        return
    budget[0] -= 1
    if budget[0] < 0:
        raise SecurityError(f"loops and calls took more than {MAX_LOOP_STEPS} steps")
    if time.monotonic() > budget[1]:
        raise SecurityError(f"rendering took more than {MAX_RENDER_SECONDS} s")


def _check_time() -> None:
    """Refuse to go on once the rendering's time is up (filters do not count as steps)."""
    budget = _budget.get(None)
    if budget is not None and time.monotonic() > budget[1]:
        raise SecurityError(f"rendering took more than {MAX_RENDER_SECONDS} s")


def _bounded(iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield from a loop's iterable while the current rendering has steps and time left."""
    if _budget.get(None) is None:
        yield from iterable
        return
    for item in iterable:
        _tick()
        yield item


# --- measuring values ------------------------------------------------------------------

_DATA_SCALARS = (
    float,
    type(None),
    datetime.date,
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    Undefined,
)
_CONTAINERS: tuple[type[Collection[Any]], ...] = (
    list,
    tuple,
    set,
    frozenset,
    type({}.keys()),
    type({}.values()),
)
_ITEMS: type[ItemsView[Any, Any]] = type({}.items())
_NOT_PRINTABLE_HINT = {
    "generator": "a sequence that was never made a list (add |list or |join)",
}


def _describe(value: Any) -> str:
    """Name an unprintable value for an error message, without printing it."""
    if callable(value):
        name = getattr(value, "__name__", None) or getattr(value, "name", None)
        if isinstance(value, type):
            return f"the type {name!r}" if name else "a type"
        return f"the function {name!r}" if isinstance(name, str) else "a function"
    kind = type(value).__name__
    return _NOT_PRINTABLE_HINT.get(kind, f"a {kind}")


def measure(value: Any, *, printed: bool = False, limit: int = MAX_VALUE_SIZE) -> int:
    """Return about how many characters ``value`` takes as text, its contents included.

    Raise ``SecurityError`` past ``limit`` (before any text is built: shared sublists are
    counted each time they appear, as ``str`` would write them). With ``printed``, a value
    whose text is not data (a function, a class, a generator) is refused too.
    """
    size = 0
    stack = [value]
    deadline = None
    budget = _budget.get(None)
    if budget is not None:
        deadline = budget[1]
    visited = 0
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            size += len(item)
        elif isinstance(item, int):
            bits = item.bit_length()
            if bits > MAX_INT_BITS:
                raise SecurityError(f"a number has more than {MAX_INT_BITS} bits")
            size += bits // 3 + 1
        elif isinstance(item, dict):
            size += 1 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            size += 1 + len(item)
            stack.extend(item)
        elif isinstance(item, _ITEMS):
            size += 1 + len(item)
            for key, val in item:
                stack.append(key)
                stack.append(val)
        elif isinstance(item, _DATA_SCALARS):
            size += 8
        elif printed:
            raise SecurityError(f"{_describe(item)} cannot be printed")
        else:
            size += 1
        if size > limit:
            raise SecurityError(f"a value would be longer than {limit} characters or items")
        visited += 1
        if deadline is not None and visited % 4096 == 0 and time.monotonic() > deadline:
            raise SecurityError(f"rendering took more than {MAX_RENDER_SECONDS} s")
    return size


def _fit(value: Any) -> Any:
    """Return ``value`` if it is within the size limit (checked after a call or filter)."""
    if isinstance(value, str | bytes):
        if len(value) > MAX_VALUE_SIZE:
            raise SecurityError(f"a value would be longer than {MAX_VALUE_SIZE} characters")
    elif isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"a number has more than {MAX_INT_BITS} bits")
    elif isinstance(value, (dict, *_CONTAINERS)):
        measure(value)
    return value


def _need(size: float, what: str) -> None:
    if size > MAX_VALUE_SIZE:
        raise SecurityError(f"{what} would be longer than {MAX_VALUE_SIZE} characters")


def _width(value: Any, what: str) -> None:
    """Refuse a width, padding, precision or count above ``MAX_WIDTH``."""
    if isinstance(value, int) and abs(value) > MAX_WIDTH:
        raise SecurityError(f"{what} over {MAX_WIDTH}")


def _length(value: Any) -> int:
    """The length of a string-ish argument (0 for anything else, which will fail anyway)."""
    return len(value) if isinstance(value, str | bytes) else 0


def _lines(text: Any) -> int:
    if isinstance(text, str):
        return text.count("\n") + 1
    if isinstance(text, bytes):
        return text.count(b"\n") + 1
    return 1


# --- formats: str.format, printf (%) and the format filter -----------------------------

_DIGITS = re.compile(r"\d+")
_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?"
    r"[hlL]?(?P<conversion>.?)",
    re.DOTALL,
)


def _check_spec(spec: str) -> None:
    """Refuse a format spec (``>100``, ``0{w}d``, ``.3f``) with a width or precision too big."""
    for digits in _DIGITS.findall(spec):
        if len(digits) > 4 or int(digits) > MAX_WIDTH:
            raise SecurityError(f"a format width or precision over {MAX_WIDTH}")


def _field_size(value: Any, conversion: str) -> int:
    """About how long one formatted value is (before padding)."""
    if isinstance(value, float | decimal.Decimal) and conversion in "eEfFgG%":
        return 330
    size = measure(value, printed=True)
    return 4 * size if conversion in ("r", "a") else size


def printf_size(template: Any, args: Any) -> int:
    """Estimate the length of ``template % args``; refuse widths and results too large."""
    if not isinstance(template, str | bytes):
        return 0
    text = template if isinstance(template, str) else template.decode("latin-1")
    positional = list(args) if isinstance(args, tuple) else [args]
    mapping = args if isinstance(args, dict) else None
    total = len(text)
    for match in _PRINTF.finditer(text):
        conversion = match["conversion"]
        if conversion == "%":
            continue
        sizes = []
        for part in ("width", "precision"):
            spec = match[part]
            if spec == "*":
                given = positional.pop(0) if positional else 0
                _width(given, "a % format width or precision")
                sizes.append(abs(given) if isinstance(given, int) else 0)
            elif spec:
                _check_spec(spec)
                sizes.append(int(spec))
            else:
                sizes.append(0)
        if match["key"] is not None and mapping is not None:
            value = mapping.get(match["key"])
        else:
            value = positional.pop(0) if positional else None
        total += max(sizes[0], _field_size(value, conversion) + sizes[1])
        _need(total, "a % format")
    return total


class _SizeMixin:
    """Bound what ``str.format`` and ``format_map`` may produce, field by field."""

    _produced = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._produced = len(format_string)
        return super().vformat(format_string, args, kwargs)  # type: ignore[misc]

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        measure(value, printed=True)
        return super().convert_field(value, conversion)  # type: ignore[misc]

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec)
        widths = [int(d) for d in _DIGITS.findall(format_spec)] or [0]
        self._produced += max(widths) + _field_size(value, format_spec[-1:])
        _need(self._produced, "a formatted string")
        return super().format_field(value, format_spec)  # type: ignore[misc]


class _BoundedFormatter(_SizeMixin, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_SizeMixin, SandboxedEscapeFormatter):
    pass


# --- method calls ---------------------------------------------------------------------


def _pad(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    width = args[0] if args else kwargs.get("width", 0)
    if isinstance(width, int) and width > max(MAX_WIDTH, len(owner)):
        raise SecurityError(f"the {name} width over {MAX_WIDTH}")


def _expandtabs(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    size = args[0] if args else kwargs.get("tabsize", 8)
    _width(size, "a tab size")
    tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
    _need(len(owner) + tabs * (size if isinstance(size, int) else 0), name)


def replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    """Estimate the length of ``text.replace(old, new, count)`` without building it."""
    if not isinstance(text, str | bytes) or type(old) is not type(new):
        return _length(text)
    if isinstance(text, str) and isinstance(old, str):  # noqa: SIM114 (one branch per type)
        found = len(text) + 1 if not old else text.count(old)
    elif isinstance(text, bytes) and isinstance(old, bytes):
        found = len(text) + 1 if not old else text.count(old)
    else:  # no string to replace, or str and bytes mixed (the call itself refuses those)
        return len(text)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _replace(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    if len(args) >= 2:
        _need(replaced_size(owner, *args[:3]), name)


def joined_size(separator: Any, items: list[Any], *, printed: bool = False) -> int:
    """Estimate the length of ``separator.join(items)``."""
    size = _length(separator) * max(0, len(items) - 1)
    _need(size, "a join")
    for item in items:
        size += _length(item) if not printed else measure(item, printed=True)
        _need(size, "a join")
    return size


def _translate(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    table = args[0] if args else None
    if isinstance(table, dict) and isinstance(owner, str):
        longest = max((_length(v) for v in table.values()), default=1)
        _need(len(owner) * max(1, longest), name)


_STRING_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], str], None]] = {
    "center": _pad,
    "ljust": _pad,
    "rjust": _pad,
    "zfill": _pad,
    "expandtabs": _expandtabs,
    "replace": _replace,
    "translate": _translate,
}


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call to a built-in method whose result would be too large; return the
    arguments to call with (a generator given to ``join`` is made a list to be measured)."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", None)
    if isinstance(owner, str | bytes):
        if name == "join" and args:
            items = list(args[0])
            joined_size(owner, items)
            return (items, *args[1:])
        check = _STRING_CHECKS.get(name)  # type: ignore[arg-type]
        if check is not None:
            check(owner, args, kwargs, name)  # type: ignore[arg-type]
    elif isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int):
            _need(length, "to_bytes")
    return args


# --- filters ---------------------------------------------------------------------------

# Filters that take sequences, mappings or anything at all and do not turn it into text;
# every other filter's value and arguments must be printable data within the size limit.
_STRUCTURAL_FILTERS = frozenset(
    {
        "abs", "attr", "batch", "count", "d", "default", "dictsort",
        "first", "float", "groupby", "int", "items", "join", "last", "length", "list",
        "map", "max", "min", "random", "reject", "rejectattr", "reverse", "round",
        "select", "selectattr", "slice", "sort", "sum", "unique", "tojson",
    }
)  # fmt: skip


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    """The filter argument at ``index`` (after the value) or keyword ``name``."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = _arg(args, kwargs, 0, "width", 4)
    _width(width, "an indent")
    step = width if isinstance(width, int) else _length(width)
    _need(_length(value) + _lines(value) * step, "indent")


def _check_wordwrap(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = _arg(args, kwargs, 0, "width", 79)
    _width(width, "a wordwrap width")
    wrapstring = _arg(args, kwargs, 2, "wrapstring", None)
    if isinstance(width, int) and width > 0:
        lines = 2 * _length(value) // width + _lines(value) + 1
        _need(_length(value) + lines * max(1, _length(wrapstring)), "wordwrap")


def _check_truncate(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _width(_arg(args, kwargs, 0, "length", 255), "a truncate length")
    _width(_arg(args, kwargs, 3, "leeway", 0), "a truncate leeway")


def _check_count(what: str, keyword: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], None]:
    def check(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        _width(_arg(args, kwargs, 0, keyword, 0), what)

    return check


def _check_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    printf_size(value, kwargs or args)


def _check_replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(args) >= 2:  # in HTML the replacement is escaped: count it so
        count = _arg(args, kwargs, 2, "count", None)
        new = str(escape(args[1]))
        _need(
            replaced_size(str(value), str(args[0]), new, -1 if count is None else count), "replace"
        )


def _check_round(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _width(_arg(args, kwargs, 0, "precision", 0), "a round precision")


def _check_sum(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    start = _arg(args, kwargs, 1, "start", 0)
    if not isinstance(start, int | float):
        raise SecurityError("sum can only add numbers")


def _check_nested(indent: Any, value: Any) -> None:
    """Indented JSON or pprint repeats the indentation on every line, once per depth."""
    _width(indent, "an indentation")
    size = measure(value, printed=True)
    depth, stack = 0, [(value, 1)]
    while stack:  # bounded by the measure above
        item, level = stack.pop()
        depth = max(depth, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((v, level + 1) for v in item)
    _need(size * (1 + depth * (indent if isinstance(indent, int) else 1)), "indented text")


def _check_tojson(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    indent = _arg(args, kwargs, 0, "indent", None)
    if indent is not None:
        _check_nested(indent, value)


def _check_pprint(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_nested(1, value)


def _check_urlize(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    extra = sum(_length(kwargs.get(k)) for k in ("target", "rel")) + sum(
        _length(a) for a in args[2:4]
    )
    _need(3 * _length(value) + (_length(value) // 2 + 1) * (64 + extra), "urlize")


_FILTER_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], None]] = {
    "batch": _check_count("a batch size", "linecount"),
    "slice": _check_count("a slice count", "slices"),
    "center": _check_count("a center width", "width"),
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "truncate": _check_truncate,
    "format": _check_format,
    "replace": _check_replace,
    "round": _check_round,
    "sum": _check_sum,
    "tojson": _check_tojson,
    "pprint": _check_pprint,
    "urlize": _check_urlize,
}

_FAST_TYPES = frozenset({str, Markup, int, float, bool, type(None)})


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter: its arguments are checked before it runs, its result after."""
    skip = 0 if _PassArg.from_obj(function) is None else 1  # context/eval context/environment
    check = _FILTER_CHECKS.get(name)
    printed = name not in _STRUCTURAL_FILTERS

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_time()
        value, rest = args[skip], args[skip + 1 :]
        for arg in (value, *rest, *kwargs.values()):
            if type(arg) not in _FAST_TYPES:
                measure(arg, printed=printed)
        if name == "join":
            value = list(value) if not isinstance(value, Undefined) else value
            separator = str(escape(_arg(rest, kwargs, 0, "d", "")))
            if isinstance(value, Undefined):
                pass
            elif _arg(rest, kwargs, 1, "attribute", None) is None:
                joined_size(separator, value, printed=True)
            else:  # the items' attributes are within the value, measured above
                _need(len(separator) * max(0, len(value) - 1), "a join")
            args = (*args[:skip], value, *rest)
        elif check is not None:
            check(value, rest, kwargs)
        return _fit(function(*args, **kwargs))

    return bounded


# --- the environment -------------------------------------------------------------------


def _printable(value: Any) -> Any:
    """``finalize``: every ``{{ }}`` value must be data (text, numbers, lists and dicts)."""
    if type(value) not in _FAST_TYPES and not isinstance(value, Undefined):
        measure(value, printed=True)
    return value


def _printed_into_block(value: Any) -> Any:
    """``finalize`` inside a captured block or macro: also counted against the rendering's
    print budget, since a loop could print into a block far more than its output cap."""
    _printable(value)
    budget = _budget.get(None)
    if budget is not None:
        budget[2] -= len(value) if isinstance(value, str) else 8
        if budget[2] < 0:
            raise SecurityError(f"the template prints more than {MAX_PRINTED_CHARS} characters")
    return value


def _joined(values: tuple[Any, ...], markup: bool) -> str:
    """``~``: concatenate printable values, refusing a result above the size limit."""
    size = 0
    for value in values:
        kind = type(value)
        size += len(value) if kind is str or kind is Markup else measure(value, printed=True)
        _need(size, "a ~ concatenation")
    return markup_join(values) if markup else str_join(values)


def _captured(chunks: Iterable[str]) -> str:
    """``concat`` of a captured block (set block, macro, filter or call block)."""
    if not isinstance(chunks, list):
        chunks = list(chunks)
    _need(sum(map(len, chunks)), "a captured block")
    return "".join(chunks)


def _literal(value: Any) -> Any:
    """A list, tuple or dict written in the template, within the size limit."""
    measure(value)
    return value


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~``, container literals and what is printed into
    captured blocks routed through checks."""

    _rebound: frozenset[str] = frozenset()

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Names the template itself binds; any other name is one of the plain values it was
        # rendered with (unknown names are refused when it is compiled).
        self._rebound = frozenset(
            {n.name for n in node.find_all(nodes.Name) if n.ctx != "load"}
            | {n.name for n in node.find_all(nodes.Macro)}
            | {"loop", "caller", "varargs", "kwargs"}
        )
        super().visit_Template(node, frame)

    def _finalized(self, node: nodes.Expr, frame: Frame) -> bool:
        """Whether a printed value needs ``finalize``: not a plain value printed as output
        (``{{ name }}``, the common case, stays as cheap as without a sandbox)."""
        return not (
            frame.buffer is None and isinstance(node, nodes.Name) and node.name not in self._rebound
        )

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not self._finalized(node, frame):
            super()._output_child_pre(node, frame, finalize._replace(src=None))
        elif frame.buffer is None:  # yielded: ``SafeTemplate.render`` counts it
            super()._output_child_pre(node, frame, finalize)
        else:
            super()._output_child_pre(node, frame, finalize._replace(src=None))
            self.write("environment.tocsin_printed_into_block(")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not self._finalized(node, frame):
            finalize = finalize._replace(src=None)
        super()._output_child_post(node, frame, finalize)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.tocsin_joined((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {markup})")

    def _write_literal(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        self.write("environment.tocsin_literal(")
        visit(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":
            super().visit_Tuple(node, frame)
        else:
            self._write_literal(super().visit_Tuple, node, frame)

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._write_literal(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._write_literal(super().visit_Dict, node, frame)


class StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute is an error rather than empty text,
    and no call, filter or operator can build a value past the limits above."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+", "%"])
    tocsin_joined = staticmethod(_joined)
    tocsin_literal = staticmethod(_literal)
    tocsin_printed_into_block = staticmethod(_printed_into_block)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} is not available")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise SecurityError("exponents above 100 are not allowed")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > MAX_INT_BITS
            ):
                raise SecurityError(f"a number would have more than {MAX_INT_BITS} bits")
        elif operator == "*":
            sized = right if isinstance(left, int) else left
            times = left if sized is right else right
            if isinstance(sized, int) and isinstance(times, int):
                if sized.bit_length() + times.bit_length() > MAX_INT_BITS:
                    raise SecurityError(f"a number would have more than {MAX_INT_BITS} bits")
            elif isinstance(times, int) and isinstance(sized, str | bytes | list | tuple):
                size = len(sized) if isinstance(sized, str | bytes) else measure(sized)
                if size * times > MAX_VALUE_SIZE:
                    raise SecurityError(f"repeating a value past {MAX_VALUE_SIZE} items")
        elif operator == "+":
            if not (isinstance(left, int | float) and isinstance(right, int | float)):
                _need(measure(left) + measure(right), "a + sum")
        elif operator == "%" and isinstance(left, str | bytes):
            printf_size(left, right)
        return _fit(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` through a formatter that bounds every field."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        owner = value.__self__
        formatter: SandboxedFormatter
        if isinstance(owner, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = _BoundedFormatter(self)
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs = args[0]
                args = ()
            return type(owner)(formatter.vformat(owner, args, kwargs))

        return functools.update_wrapper(bounded, value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call from a template: counted, and refused when its result would be too large."""
        _tick()
        if not __self.is_safe_callable(__obj):
            raise SecurityError("this function is not safely callable")
        args = _check_call(__obj, args, kwargs)
        return _fit(__context.call(__obj, *args, **kwargs))


def make_environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    """Return a sandbox with no loader (so no include/import) and no globals at all."""
    env = StrictSandbox(autoescape=autoescape, undefined=Undefined, finalize=_printable)
    env.globals = {}
    env.concat = _captured  # type: ignore[method-assign]
    # Values are escaped in HTML and nothing may switch that off: no |safe, no autoescape
    # blocks (the body was sanitised before it became a template; its values must stay text).
    env.filters.pop("safe", None)
    for name, function in list(env.filters.items()):
        env.filters[name] = _bounded_filter(name, function)
    env.filters["_tocsin_bounded"] = _bounded  # on every loop: kept cheap, counts steps
    return env


def _bound_loops(tree: nodes.Template) -> nodes.Template:
    """Route every ``for`` loop's iterable through the per-rendering step budget."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, "_tocsin_bounded", [], [], None, None)
    return tree


def _template_line(traceback: TracebackType | None) -> int | None:
    """The template line where an error happened (Jinja rewrites template frames so)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


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
        token = _budget.set([MAX_LOOP_STEPS, started + MAX_RENDER_SECONDS, MAX_PRINTED_CHARS])
        try:
            chunks: list[str] = []
            size = 0
            for chunk in self._template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise RenderError(f"{self.what}: output is larger than {MAX_OUTPUT_CHARS}")
                chunks.append(chunk)
        except SecurityError as exc:
            line = _template_line(exc.__traceback__)
            raise RenderError(f"{self.what}: not allowed: {exc}", line) from None
        except RecursionError as exc:
            line = _template_line(exc.__traceback__)
            raise RenderError(f"{self.what}: a macro calls itself too deeply", line) from None
        except RenderError:
            raise
        except Exception as exc:  # noqa: BLE001 - any template fault becomes one clear error
            line = _template_line(exc.__traceback__)
            raise RenderError(f"{self.what}: {type(exc).__name__}: {exc}", line) from None
        finally:
            _budget.reset(token)
        return "".join(chunks)


def where_written(
    error: RenderError,
    parts: dict[str, str],
    context: dict[str, Any],
    names: frozenset[str],
    *,
    html: bool = False,
) -> RenderError:
    """Return ``error`` as found in the part its author wrote, if a part fails on its own.

    A message renders its parts composed (the body inside the layout, CSS inlined), so an
    error there is at a line of the composed document. Each part of ``parts``
    (``{"subject": …, "body": …}``) is rendered alone with ``context``; the first that fails
    gives the error at its own line. If none fails alone, ``error`` is returned as it was.
    """
    for what, source in parts.items():
        try:
            SafeTemplate(source, html=html, what=what, names=names).render(context)
        except RenderError as alone:
            return alone
    return error
