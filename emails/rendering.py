"""Compile one language variant once, then render it per recipient cheaply.

The expensive steps (Markdown, sanitising, premailer's CSS inlining) run once per variant on
a document whose Jinja tags have been swapped for inert markers; the markers are swapped
back afterwards (``emails.html_safety.secure``: the whole document checked for active
content, every value confined to the text or attribute value it stands in) and the result
compiled as a sandboxed template, so per-recipient values land intact, and inert, in text
and attributes alike.

Nothing is fetched while rendering: cssutils' URL reader is replaced for the whole process
when this module is imported, so no spelling of ``@import`` reaches the network or a file.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import cssutils
import cssutils.css.cssstylesheet
import cssutils.util
import nh3
from markdown_it import MarkdownIt
from premailer import Premailer

from emails.errors import RenderError
from emails.html_safety import BODY_TAGS, check_source, check_tags, css_plain, secure
from emails.sandbox import SafeTemplate

log = logging.getLogger(__name__)

RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"}
)

# Every value a template may use. Anything else is refused when the template is saved, so a
# typo or a probe such as ``{{ config }}`` fails loudly instead of rendering as nothing.
RECIPIENT_NAMES = frozenset({"email", "name", "group", "country", "language", "attributes"})
LINK_NAMES = frozenset({"unsubscribe_url", "preferences_url", "archive_url", "report_url"})
# ``footer``: the same words for the built-in layout, in parts (``lang``, ``dir``, ``before``,
# ``lists``, ``after``) so that the list names can be isolated from the sentence around them.
LAYOUT_WORDS = frozenset({"footer_reason", "unsubscribe_label", "preferences_label", "footer"})
CONTEXT_NAMES = (
    RECIPIENT_NAMES
    | LINK_NAMES
    | LAYOUT_WORDS
    | {"campaign", "subject", "preheader", "lang", "dir"}
)

# ``{{ lang }}`` and ``{{ dir }}`` printed as they are: the same for every reader of a variant,
# so written in once when it is compiled rather than rendered per recipient.
_VARIANT_CONSTANT = re.compile(r"\{\{-?\s*(lang|dir)\s*-?\}\}")
_PLAIN_TAG = re.compile(r"[A-Za-z0-9-]{1,35}")
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_CONTENT_SLOT = re.compile(r"\{\{-?\s*content\s*-?\}\}")
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
# An at-keyword however it is spelled: letters, CSS escapes (``@\\69mport``) and comments.
_AT_KEYWORD = re.compile(
    r"@(?:[a-zA-Z_-]|\\[0-9a-fA-F]{1,6}\s?|\\[^\n0-9a-fA-F]|/\*.*?\*/)+", re.DOTALL
)
# The rest of an @import rule: up to its semicolon, never past the end of its rule or tag.
_IMPORT_REST = re.compile(r"""(?:[^;<>{}"']|"[^"<>]*"|'[^'<>]*')*;?""")

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@dataclass(frozen=True)
class VariantSource:
    """What an organiser wrote for one language."""

    language: str
    subject: str
    preheader: str
    body: str
    body_format: str = "markdown"  # or "html"


@dataclass(frozen=True)
class Rendered:
    """One recipient's message content, ready for MIME assembly."""

    subject: str
    html: str
    text: str


def text_direction(language: str) -> str:
    """Return ``rtl`` for right-to-left languages (by primary subtag), else ``ltr``."""
    return "rtl" if language.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


def _protect(source: str) -> tuple[str, dict[str, str]]:
    """Swap every Jinja tag for an alphanumeric marker that Markdown and premailer leave be."""
    nonce = secrets.token_hex(4)
    saved: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        marker = f"tcsn{nonce}q{len(saved)}q"
        saved[marker] = match.group(0)
        return marker

    return _JINJA_TAG.sub(swap, source), saved


def _restore(document: str, saved: dict[str, str]) -> str:
    for marker, tag in saved.items():
        if marker not in document:
            raise RenderError(
                f"body: the sanitiser removed the place of this template tag: {tag} "
                "(a value cannot stand in a script, a form or a javascript: URL)"
            )
        document = document.replace(marker, tag)
    return document


def body_to_html(body: str, body_format: str) -> str:
    """Turn the organiser's body (Markdown or HTML) into sanitised HTML."""
    html = _markdown.render(body) if body_format == "markdown" else body
    return nh3.clean(html, tags=BODY_TAGS, link_rel=None)


def body_to_text(body: str, body_format: str) -> str:
    """Return the plain-text part's source: the Markdown itself, or HTML stripped of tags."""
    if body_format == "markdown":
        return body.strip() + "\n"
    text = nh3.clean(body, tags=set())
    return re.sub(r"\n\s*\n+", "\n\n", text).strip() + "\n"


def strip_imports(css: str) -> str:
    """Remove every ``@import`` rule, whatever escapes, case or comments spell its keyword."""
    found = [m for m in _AT_KEYWORD.finditer(css) if css_plain(m.group(0)).strip() == "@import"]
    for match in reversed(found):
        rest = _IMPORT_REST.match(css, match.end())
        css = css[: match.start()] + css[rest.end() if rest else match.end() :]
    return css


def _fetch_nothing(url: str) -> None:
    """cssutils' fetcher: refuse every URL and file, so rendering never reads or waits."""
    log.info("refused to fetch %r while rendering", url[:200])


def _load_nothing(url: str) -> str:
    """Premailer's loader for linked stylesheets: reads nothing."""
    _fetch_nothing(url)
    return ""


def _read_nothing(url: str, *_args: Any, **_kwargs: Any) -> tuple[None, None, None]:
    """What cssutils reads for any stylesheet URL, whichever fetcher it was given: nothing."""
    _fetch_nothing(url)
    return None, None, None


# cssutils fetches @import targets while it parses (premailer's module-level ``parseString``
# and every ``CSSParser``), through ``_readUrl`` and the default fetcher, with no timeout.
# Both are replaced for the whole process, so no spelling of any rule reaches the network
# or the disk.
cssutils.util._defaultFetcher = _fetch_nothing
cssutils.util._readUrl = _read_nothing
cssutils.css.cssstylesheet._readUrl = _read_nothing


def inline_css(document: str) -> str:
    """Inline CSS with premailer, with no network and no file access."""
    document = strip_imports(_LINK_TAG.sub("", document))
    premailer = Premailer(
        document,
        allow_network=False,
        allow_loading_external_files=False,
        keep_style_tags=True,
        strip_important=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    )
    premailer._load_external = _load_nothing  # premailer's own loader, for links: unused
    return premailer.transform()


class CompiledVariant:
    """A variant prepared once; ``render`` fills in one recipient in microseconds."""

    def __init__(
        self,
        layout: str,
        source: VariantSource,
        text_footer: str,
        names: frozenset[str] = CONTEXT_NAMES,
    ) -> None:
        if not _CONTENT_SLOT.search(layout):
            raise RenderError("the layout has no {{ content }} slot for the body")
        # Compiled alone first, so a syntax error is reported at its line in what was written.
        SafeTemplate(layout, html=True, what="layout", names=names | {"content"})
        SafeTemplate(source.body, html=False, what="body", names=names)
        check_source(layout, "layout")
        check_source(source.body, "body")
        self.language = source.language
        self.direction = text_direction(source.language)
        protected_body, saved_body = _protect(source.body)
        check_tags(saved_body)
        body_html = body_to_html(protected_body, source.body_format)
        body_html = _restore(body_html, saved_body)
        document = _CONTENT_SLOT.sub(lambda _m: body_html, layout, count=1)
        document = self._constants_written_in(document)
        protected, saved = _protect(document)
        check_tags(saved)
        inlined = secure(inline_css(protected), saved)
        self._html = SafeTemplate(inlined, html=True, what="body", names=names)
        text_source = body_to_text(source.body, source.body_format) + text_footer
        self._text = SafeTemplate(text_source, html=False, what="text part", names=names)
        self._subject = SafeTemplate(source.subject, html=False, what="subject", names=names)
        self._preheader = source.preheader

    def _constants_written_in(self, document: str) -> str:
        """Write the variant's language tag and direction where they are printed bare (a tag
        of letters, digits and hyphens, ``ltr`` or ``rtl``: nothing that needs escaping)."""
        constants = {"lang": self.language, "dir": self.direction}
        if not _PLAIN_TAG.fullmatch(self.language):
            return document  # left to the template, which escapes it per recipient
        return _VARIANT_CONSTANT.sub(lambda m: constants[m.group(1)], document)

    def render(self, recipient: dict[str, Any]) -> Rendered:
        """Render for one recipient; ``recipient`` holds plain values only."""
        context = {
            **recipient,
            "preheader": self._preheader,
            "lang": self.language,
            "dir": self.direction,
        }
        subject = " ".join(self._subject.render(context).split())
        context["subject"] = subject
        return Rendered(
            subject=subject,
            html=self._html.render(context),
            text=self._text.render(context),
        )
