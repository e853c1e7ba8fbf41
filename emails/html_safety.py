"""What may reach a reader's HTML: no active content from a layout, a body or any value.

A variant's document is checked once, when it is compiled, while its Jinja tags are still
inert markers (see ``emails.rendering``). ``secure`` reads it with an HTML parser and

- refuses active content written into it (scripts, frames, forms, embedded objects, SVG,
  event handlers, ``javascript:``/``vbscript:``/``data:`` URLs, CSS expressions): the nh3
  cleaned body always passes, so what is refused comes from the layout;
- finds where every tag stands. A value (``{{ … }}``) may stand in text or inside an
  attribute value; nowhere else (a tag or attribute name, a stylesheet). A block opened
  inside a tag, an attribute value, a comment or a stylesheet must close there, so that
  skipping it cannot move text into a tag; a block tag standing among attributes keeps the
  spaces around it (no ``{%- -%}`` there);
- wraps every attribute value holding a tag in a filter block (``_tocsin_url`` and the
  like; a value that is one ``{{ … }}`` gets the filter directly) that receives the whole
  rendered value, decodes it once as a browser would, refuses a URL whose scheme is not
  http, https, mailto or tel, and escapes it completely, so no value, Markup or not, can
  leave its attribute;
- passes every value printed in text through ``_tocsin_html``: plain text is escaped as
  always, and Markup (a macro, a ``{% set %}`` block, ``xmlattr``) is cleaned by nh3;
- filters a comment or stylesheet holding tags whole, so that what its blocks skip or its
  values add cannot end it early (``-->``, ``</style``) and let the rest become live.

Per recipient only the values pay: one filter call each.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import nh3
from jinja2 import TemplateSyntaxError, nodes
from markupsafe import Markup, escape

from emails.errors import RenderError
from emails.sandbox import HTML_ENV

# Tags and attributes an organiser's body may use: formatting, links, images, tables.
BODY_TAGS = nh3.ALLOWED_TAGS - {"iframe", "script", "form", "input", "button", "style"}

REFUSED_URL = "about:invalid#refused"
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

ACTIVE_ELEMENTS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
        "input", "button", "textarea", "select", "option", "optgroup", "datalist", "keygen",
        "isindex", "base", "link", "portal", "svg", "math", "template", "xml", "import",
        # read as raw text by browsers but as markup by the parser that checks: refused
        "noscript", "noembed", "noframes", "xmp", "plaintext",
    }
)  # fmt: skip
URL_ATTRIBUTES = frozenset(
    {
        "href", "src", "action", "background", "poster", "cite", "longdesc", "lowsrc",
        "dynsrc", "xlink:href", "data", "codebase", "classid", "icon", "manifest",
        "profile", "usemap", "formaction",
    }
)  # fmt: skip
URL_LIST_ATTRIBUTES = frozenset({"srcset", "imagesrcset", "ping", "archive"})
FORBIDDEN_ATTRIBUTES = frozenset({"formaction", "srcdoc"})
_BAD_SCHEMES = ("javascript:", "vbscript:", "data:", "livescript:", "mocha:")
_BAD_CSS = ("expression(", "javascript:", "vbscript:", "-moz-binding", "behavior:", "@import")
_BAD_CSS_VALUE = (*_BAD_CSS, "data:", "behavior", "\\")

_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)|/\*.*?\*/", re.DOTALL)
_CONTROL = "".join(chr(c) for c in range(0x21))  # what browsers trim around a URL
_URL_NOISE = re.compile(r"[\t\n\r]")  # what browsers drop anywhere in a URL
_SCHEME = re.compile(r"([^/?#:]*):")
_PLAIN_STARTS = ("https:", "http:", "mailto:", "tel:", "/", "#", "?")
_ATTRIBUTE = re.compile(r"""([^\s/>"'=][^\s/>"'=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']*))?""")
_PRINT = re.compile(r"\{\{([-+]?)(.*?)([-+]?)\}\}\Z", re.DOTALL)
_TRIM = re.compile(r"\A(\{[{%#])[-+]|[-+]([}%#]\})\Z")
_RAW = re.compile(r"\{%[-+]?\s*(?:end)?raw\b")

PLACEMENT = "a value can only be placed in text or inside a quoted attribute value"

# Markup printed in text (macros, {% set %} blocks) is cleaned with the body's rules, plus
# the presentational attributes and CSS properties a layout's macros use.
_MARKUP_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
_MARKUP_ATTRIBUTES["*"] = {
    "style", "class", "align", "valign", "width", "height", "bgcolor", "border",
    "cellpadding", "cellspacing", "role", "dir", "lang", "title",
}  # fmt: skip
_MARKUP_STYLES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "line-height", "text-align", "text-decoration", "vertical-align",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left", "padding",
    "padding-top", "padding-right", "padding-bottom", "padding-left", "border",
    "border-top", "border-right", "border-bottom", "border-left", "border-radius",
    "border-collapse", "width", "max-width", "height", "display",
}  # fmt: skip


def css_plain(css: str) -> str:
    """CSS as its tokenizer reads it: comments dropped and escapes decoded, in lower case."""

    def decode(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
        return match.group(2) or ""

    return _CSS_ESCAPE.sub(decode, css).lower()


def _css_is_active(css: str, words: tuple[str, ...] = _BAD_CSS) -> bool:
    probe = "".join(css_plain(css).split())
    return any(word in probe for word in words)


def url_scheme(url: str) -> str | None:
    """The scheme a browser would read in ``url`` (entities already decoded), or None."""
    probe = _URL_NOISE.sub("", url).strip(_CONTROL)
    match = _SCHEME.match(probe)
    return match.group(1).lower() if match else None


def url_allowed(url: str) -> bool:
    """True for http, https, mailto and tel URLs and for relative ones."""
    if url.startswith(_PLAIN_STARTS):  # nothing after these can change the scheme
        return True
    scheme = url_scheme(url)
    return scheme is None or scheme in URL_SCHEMES


def _static_url_is_active(url: str) -> bool:
    probe = "".join(ch for ch in url if ch > " " and not "\x7f" <= ch <= "\x9f").lower()
    return probe.startswith(_BAD_SCHEMES)


# ---------------------------------------------------------------------------------------------
# The filters the compiled template calls per recipient
# ---------------------------------------------------------------------------------------------


def _decoded(value: Any) -> str:
    """A value as the browser reads it: Markup (a filter block's rendered attribute value,
    ``xmlattr``…) has its entities decoded once; a plain value is what it says."""
    if hasattr(value, "__html__"):
        return html.unescape(str(value.__html__()))
    return str(value)


def attribute_value(value: Any) -> Markup:
    """Any attribute: the whole value, decoded, escaped again (quotes included)."""
    return escape(_decoded(value))


def url_value(value: Any) -> Markup:
    """A URL attribute: an allowed scheme or a relative URL, else an inert URL."""
    url = _decoded(value)
    return escape(url) if url_allowed(url) else Markup(REFUSED_URL)


def url_list_value(value: Any) -> Markup:
    """``srcset`` and the like: every URL in the list allowed, else nothing."""
    urls = _decoded(value)
    if all(url_allowed(part) for part in re.split(r"[\s,]+", urls) if part):
        return escape(urls)
    return Markup("")


def style_value(value: Any) -> Markup:
    """A ``style`` attribute holding values: dropped when it could run or load anything."""
    css = _decoded(value)
    return Markup("") if _css_is_active(css, _BAD_CSS_VALUE) else escape(css)


def inert_value(value: Any) -> Markup:
    """A value in a comment: every character that could end it or its attribute (in
    Outlook's reading of a conditional comment) is escaped."""
    return Markup(str(escape(str(value))).replace("-", "&#45;").replace("!", "&#33;"))


def comment_text(value: Any) -> Markup:
    """A comment's rendered text, unable to end the comment early (``-->``, ``--!>``)."""
    text = re.sub(r"-(?=-)", "- ", str(value))
    return Markup(" " + text if text.startswith((">", "->")) else text)


def stylesheet_text(value: Any) -> Markup:
    """A stylesheet's rendered text, unable to end its element or run anything."""
    css = str(value)
    return Markup("") if "</style" in css.lower() or _css_is_active(css) else Markup(css)


def text_value(value: Any) -> Any:
    """A value in text: plain values are escaped by the template; Markup is cleaned."""
    if hasattr(value, "__html__"):
        return Markup(
            nh3.clean(
                str(value.__html__()),
                tags=BODY_TAGS,
                attributes=_MARKUP_ATTRIBUTES,
                filter_style_properties=_MARKUP_STYLES,
                url_schemes=set(URL_SCHEMES),
                link_rel=None,
            )
        )
    return value


FILTERS: dict[str, Callable[[Any], Any]] = {
    "_tocsin_attr": attribute_value,
    "_tocsin_url": url_value,
    "_tocsin_urls": url_list_value,
    "_tocsin_style": style_value,
    "_tocsin_inert": inert_value,
    "_tocsin_comment": comment_text,
    "_tocsin_css": stylesheet_text,
    "_tocsin_html": text_value,
}
HTML_ENV.filters.update(FILTERS)


# ---------------------------------------------------------------------------------------------
# Checking a template's tags and its document once, when it is compiled
# ---------------------------------------------------------------------------------------------


def check_source(source: str, what: str) -> None:
    """Refuse what would let a template rewrite its own checked HTML: filter blocks."""
    try:
        tree = HTML_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise RenderError(f"{what}: {exc.message}", exc.lineno) from None
    block = tree.find(nodes.FilterBlock)
    if block is not None:
        raise RenderError(
            f"{what}: filter blocks are not allowed; apply the filter to a value "
            "instead, e.g. {{ name | upper }}",
            block.lineno,
        )


def check_tags(saved: dict[str, str]) -> None:
    """Each tag found by the marker pattern must be exactly one tag to Jinja too."""
    for tag in saved.values():
        if _RAW.match(tag):
            raise RenderError("raw blocks are not allowed in HTML")
        try:
            for _token in HTML_ENV.lex(tag):
                pass
        except TemplateSyntaxError:
            raise RenderError(f"this template tag does not end where it seems to: {tag}") from None


def _balanced(tags: list[str], where: str) -> None:
    if not tags:
        return
    try:
        HTML_ENV.parse("".join(tags))
    except TemplateSyntaxError:
        raise RenderError(
            f"a block that starts {where} must end there too: {' '.join(tags)}"
        ) from None


def _wrap_print(tag: str, filter_name: str) -> str:
    match = _PRINT.match(tag)
    if match is None:  # pragma: no cover - every {{ tag matches
        raise RenderError(f"cannot read this value: {tag}")
    opening, expression, closing = match.groups()
    return f"{{{{{opening} ({expression})|{filter_name} {closing}}}}}"


def _keep_spaces(tag: str) -> str:
    """A tag among attributes keeps the spaces around it: ``{%- … -%}`` there could join two
    harmless names into one (``o {%- if x -%} nclick``)."""
    return _TRIM.sub(lambda m: m.group(1) or m.group(2), tag)


def _kind(name: str) -> str:
    if name in URL_ATTRIBUTES:
        return "_tocsin_url"
    if name in URL_LIST_ATTRIBUTES:
        return "_tocsin_urls"
    return "_tocsin_style" if name == "style" else "_tocsin_attr"


class _Reader(HTMLParser):
    """Reads the document once: checks it, and notes how each marker is put back."""

    def __init__(self, document: str, saved: dict[str, str]) -> None:
        super().__init__(convert_charrefs=False)
        self.document, self.saved = document, saved
        self.markers = re.compile("|".join(re.escape(m) for m in saved) or r"(?!)")
        self.splitter = re.compile(f"({self.markers.pattern})")
        self.lines = [0, *(m.end() for m in re.finditer("\n", document))]
        self.edits: list[tuple[int, int, str]] = []
        self.seen: set[str] = set()

    def refuse(self, reason: str, what: str = "template") -> None:
        raise RenderError(f"{what}: {reason}")

    def here(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def tags_in(self, text: str) -> list[str]:
        found = self.markers.findall(text)
        self.seen.update(found)
        return [self.saved[m] for m in found]

    def edit_markers(self, text: str, filter_name: str) -> None:
        """Wrap each value in ``text`` (which starts here or just after) in ``filter_name``."""
        position = self.here()
        for marker in self.markers.findall(text):
            position = self.document.index(marker, position)
            tag = self.saved[marker]
            if tag.startswith("{{"):
                replacement = _wrap_print(tag, filter_name)
                self.edits.append((position, position + len(marker), replacement))
            position += len(marker)

    # -- elements and attributes ---------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        if self.markers.search(tag):
            self.refuse(f"{PLACEMENT}, not in a tag name")
        if tag in ACTIVE_ELEMENTS:
            self.refuse(
                f"<{tag}> is not allowed in an email (no scripts, frames, forms, "
                "embedded objects or SVG)",
                "layout",
            )
        for name, value in attrs:
            self.check_attribute(tag, self.markers.sub("", name) or name, value or "")
        tags = self.tags_in(raw)
        if tags:
            _balanced(tags, f"inside <{tag}>")
            self.edits.append((self.here(), self.here() + len(raw), self.rewrite(raw)))

    handle_startendtag = handle_starttag

    def check_attribute(self, tag: str, name: str, value: str) -> None:
        if name.startswith("on") or name in FORBIDDEN_ATTRIBUTES:
            self.refuse(f"<{tag}> has {name}: event handlers are not allowed in an email", "layout")
        if name == "http-equiv" and (
            self.markers.search(value) or value.strip().lower() in {"refresh", "set-cookie"}
        ):
            self.refuse(f"<meta http-equiv={value!r}> is not allowed in an email", "layout")
        if name in URL_ATTRIBUTES and _static_url_is_active(value):
            self.refuse(f"<{tag} {name}> is a script or data URL: {value[:60]!r}", "layout")
        if name in URL_LIST_ATTRIBUTES and any(
            _static_url_is_active(part) for part in re.split(r"[\s,]+", value)
        ):
            self.refuse(f"<{tag} {name}> names a script or data URL", "layout")
        if name == "style" and _css_is_active(value):
            self.refuse(f"<{tag}> has a style that could run or load something", "layout")

    def rewrite(self, raw: str) -> str:
        """The start tag with its tags back, each attribute value holding one filtered."""
        head = re.match(r"<[^\s/>]+", raw)
        assert head is not None
        end = len(raw) - (2 if raw.endswith("/>") else 1)
        pieces = [head.group(0)]
        for match in _ATTRIBUTE.finditer(raw, head.end(), end):
            pieces.append(self.rewrite_attribute(match.group(1), match.group(2)))
        return " ".join(pieces) + raw[end:]

    def rewrite_attribute(self, name: str, quoted: str | None) -> str:
        """Whole block tags may stand among attributes (``{% if %}align="right"{% endif %}``);
        a value may not, nor may a tag split a name."""
        parts = self.splitter.split(name)  # odd places hold markers
        plain = [i for i, part in enumerate(parts) if i % 2 == 0 and part]
        if (
            any(self.saved[marker].startswith("{{") for marker in parts[1::2])
            or len(plain) > 1
            or (plain and quoted is not None and plain[0] != len(parts) - 1)
            or (not plain and (quoted or "").strip("\"'"))
        ):
            self.refuse(f"{PLACEMENT}, not in an attribute name")
        pieces = [
            _keep_spaces(self.saved[part]) if i % 2 else self.attribute_value(part, quoted)
            for i, part in enumerate(parts)
            if part
        ]
        return " ".join(pieces)

    def attribute_value(self, name: str, quoted: str | None) -> str:
        if quoted is None:
            return name
        inner = quoted[1:-1] if quoted[:1] in ("'", '"') else quoted
        tags = self.tags_in(inner)
        if not tags:
            return f"{name}={quoted}"
        _balanced(tags, f"in the {name} attribute")
        kind = _kind(name.lower())
        if len(tags) == 1 and self.markers.fullmatch(inner) and tags[0].startswith("{{"):
            return f'{name}="{_wrap_print(tags[0], kind)}"'  # the usual case, and the cheapest
        restored = self.markers.sub(lambda m: self.saved[m.group(0)], inner)
        return f'{name}="{{% filter {kind} %}}{restored}{{% endfilter %}}"'

    def handle_endtag(self, tag: str) -> None:
        if self.markers.search(tag):
            self.refuse(f"{PLACEMENT}, not in a tag name")

    # -- text, stylesheets, comments -----------------------------------------------------

    def handle_data(self, data: str) -> None:
        tags = self.tags_in(data)
        if self.cdata_elem is not None:  # inside <style>
            if _css_is_active(data):
                self.refuse("a stylesheet could run or load something (expression…)", "layout")
            if any(tag.startswith("{{") for tag in tags):
                self.refuse(f"{PLACEMENT}, not in a stylesheet")
            if tags:
                _balanced(tags, "in a stylesheet")
                self.wrap_whole(data, self.here(), "_tocsin_css", "_tocsin_css")
        elif tags:
            self.edit_markers(data, "_tocsin_html")

    def handle_comment(self, data: str) -> None:
        tags = self.tags_in(data)
        if tags:
            if not self.document.startswith("<!--", self.here()):
                self.refuse(f"{PLACEMENT}, not in a malformed comment")
            _balanced(tags, "in a comment")
            self.wrap_whole(data, self.here() + 4, "_tocsin_comment", "_tocsin_inert")

    def wrap_whole(self, data: str, start: int, filter_name: str, values: str) -> None:
        """Filter a comment's or a stylesheet's whole rendered text: whatever its blocks
        skip or its values add, it cannot end early and let the rest become live HTML."""
        if self.document[start : start + len(data)] != data:  # pragma: no cover
            self.refuse("a comment or stylesheet could not be read")

        def restored(match: re.Match[str]) -> str:
            tag = self.saved[match.group(0)]
            return _wrap_print(tag, values) if tag.startswith("{{") else tag

        text = self.markers.sub(restored, data)
        replacement = f"{{% filter {filter_name} %}}{text}{{% endfilter %}}"
        self.edits.append((start, start + len(data), replacement))

    def handle_entityref(self, name: str) -> None:
        if self.tags_in(name):
            self.refuse(f"{PLACEMENT}, not in a character reference")

    handle_charref = handle_entityref

    def unknown_decl(self, data: str) -> None:
        if self.tags_in(data):
            self.refuse(f"{PLACEMENT}, not in a declaration")

    def handle_decl(self, decl: str) -> None:
        self.unknown_decl(decl)

    handle_pi = unknown_decl


def secure(document: str, saved: dict[str, str]) -> str:
    """Check ``document`` (tags still as markers) and return it with its tags put back,
    every value confined to the text or attribute value it stands in."""
    reader = _Reader(document, saved)
    reader.feed(document)
    reader.close()
    lost = set(saved) - reader.seen
    if lost:
        tag = saved[min(lost)]
        raise RenderError(f"a template tag was lost while inlining CSS: {tag}")
    pieces, position = [], 0
    for start, end, replacement in sorted(reader.edits):
        pieces += [document[position:start], replacement]
        position = end
    pieces.append(document[position:])
    rebuilt = "".join(pieces)

    def restore(match: re.Match[str]) -> str:
        tag = saved[match.group(0)]
        if tag.startswith("{{"):  # every value was placed above; one left is out of place
            raise RenderError(f"template: {PLACEMENT}: {tag}")
        return tag

    return reader.markers.sub(restore, rebuilt)


class _LinkFinder(HTMLParser):
    """Looks for an ``<a>`` whose ``href`` is one given URL (comments are not links)."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url, self.found = url, False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and any(n == "href" and (v or "").strip() == self.url for n, v in attrs):
            self.found = True


def links_to(document: str, url: str) -> bool:
    """Whether a rendered document has an ``<a href>`` equal to ``url``."""
    finder = _LinkFinder(url)
    finder.feed(document)
    finder.close()
    return finder.found
