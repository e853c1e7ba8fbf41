"""Compile one language variant once, then render it per recipient cheaply.

The expensive steps (Markdown, sanitising, premailer's CSS inlining) run once per variant on
a document whose Jinja tags have been swapped for inert markers; the markers are swapped
back afterwards and the result compiled as a sandboxed template, so per-recipient values
land intact in text and attributes alike.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import nh3
from markdown_it import MarkdownIt
from premailer import Premailer

from emails.errors import RenderError
from emails.sandbox import SafeTemplate

RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"}
)

# Every value a template may use. Anything else is refused when the template is saved, so a
# typo or a probe such as ``{{ config }}`` fails loudly instead of rendering as nothing.
RECIPIENT_NAMES = frozenset({"email", "name", "group", "country", "language", "attributes"})
LINK_NAMES = frozenset({"unsubscribe_url", "preferences_url", "archive_url", "report_url"})
LAYOUT_WORDS = frozenset({"footer_reason", "unsubscribe_label", "preferences_label"})
CONTEXT_NAMES = (
    RECIPIENT_NAMES
    | LINK_NAMES
    | LAYOUT_WORDS
    | {"campaign", "subject", "preheader", "lang", "dir"}
)

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_CONTENT_SLOT = re.compile(r"\{\{-?\s*content\s*-?\}\}")
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\b[^;]*;?", re.IGNORECASE)

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

# Tags and attributes an organiser's body may use: formatting, links, images, tables.
_BODY_TAGS = nh3.ALLOWED_TAGS - {"iframe", "script", "form", "input", "button", "style"}


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
            raise RenderError(f"a template tag was lost while inlining CSS: {tag}")
        document = document.replace(marker, tag)
    return document


def body_to_html(body: str, body_format: str) -> str:
    """Turn the organiser's body (Markdown or HTML) into sanitised HTML."""
    html = _markdown.render(body) if body_format == "markdown" else body
    return nh3.clean(html, tags=_BODY_TAGS, link_rel=None)


def body_to_text(body: str, body_format: str) -> str:
    """Return the plain-text part's source: the Markdown itself, or HTML stripped of tags."""
    if body_format == "markdown":
        return body.strip() + "\n"
    text = nh3.clean(body, tags=set())
    return re.sub(r"\n\s*\n+", "\n\n", text).strip() + "\n"


def inline_css(document: str) -> str:
    """Inline CSS with premailer, with no network and no file access."""
    document = _LINK_TAG.sub("", document)
    document = _CSS_IMPORT.sub("", document)
    return Premailer(
        document,
        allow_network=False,
        allow_loading_external_files=False,
        keep_style_tags=True,
        strip_important=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()


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
        self.language = source.language
        self.direction = text_direction(source.language)
        protected_body, saved_body = _protect(source.body)
        body_html = body_to_html(protected_body, source.body_format)
        body_html = _restore(body_html, saved_body)
        document = _CONTENT_SLOT.sub(lambda _m: body_html, layout, count=1)
        protected, saved = _protect(document)
        inlined = _restore(inline_css(protected), saved)
        self._html = SafeTemplate(inlined, html=True, what="body", names=names)
        text_source = body_to_text(source.body, source.body_format) + text_footer
        self._text = SafeTemplate(text_source, html=False, what="text part", names=names)
        self._subject = SafeTemplate(source.subject, html=False, what="subject", names=names)
        self._preheader = source.preheader

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
