"""Which language a public page speaks: the subscriber's, else the browser's, else the list's.

Public pages and their messages are translated with Flask-Babel (catalogues in
``app/translations``; ``make translations`` extracts, updates and compiles them). The
organisers' panel is in English.
"""

from __future__ import annotations

from flask import g, has_request_context, request
from flask_babel import refresh

from app.languages import best_match, fallback_chain

# Languages with a catalogue (English is the source language).
PUBLIC_LANGUAGES = ("en", "uk", "es", "fr", "de", "pl")


def supported(tag: str | None) -> str | None:
    """Return the catalogue language for a tag (``pt-BR`` → None, ``uk-UA`` → ``uk``)."""
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-")[0].lower()
    return primary if primary in PUBLIC_LANGUAGES else None


def speak(*candidates: str | None, default: str | None = None) -> str:
    """Make the current page speak the first supported of ``candidates``, else the first of
    the browser's languages (most wanted first) that has a catalogue, else ``default`` (a
    list's language), else English; return the language chosen."""
    browser = None
    if has_request_context():
        wanted = (tag for tag, quality in request.accept_languages if quality > 0)
        browser = best_match(wanted, PUBLIC_LANGUAGES)
    chain = fallback_chain(*candidates, browser, default, default="en")
    g.page_language = next(s for s in map(supported, chain) if s)
    refresh()  # Flask-Babel caches the locale per request
    return g.page_language


def forget_language() -> None:
    """Drop this request's choice so the next ``speak`` (or the selector) decides afresh."""
    g.pop("page_language", None)
    refresh()


def select_locale() -> str:
    """Flask-Babel's locale selector: what ``speak`` chose, English otherwise."""
    if has_request_context():
        chosen = g.get("page_language")
        if chosen:
            return str(chosen)
        if request.blueprint == "public":
            return speak()
    return "en"
