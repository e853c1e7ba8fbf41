"""The public archive: past campaigns per language, their feed, and the favicon."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue

from app.errors import InvalidInput, NotFound
from app.i18n import PUBLIC_LANGUAGES, speak
from app.languages import normalize_tag
from app.public.common import blueprint
from app.readers import archive

# Organiser-written HTML is shown in a sandbox of its own: no scripts, no forms, a unique
# origin, so nothing on an archive page can touch the panel's cookies.
ARCHIVE_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)


def _archive_language(language: str) -> str:
    try:
        tag = normalize_tag(language)
    except InvalidInput:
        abort(404)
    speak(tag)
    return tag


@blueprint.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The site's icon (a bell, drawn in SVG) where browsers look for it unasked."""
    return send_from_directory(
        current_app.static_folder or "static", "favicon.svg", mimetype="image/svg+xml"
    )


@blueprint.get("/archive/")
def archive_home() -> ResponseReturnValue:
    """The archive in the browser's language among the archive's (else English)."""
    language = request.accept_languages.best_match(PUBLIC_LANGUAGES) or PUBLIC_LANGUAGES[0]
    response = redirect(url_for("public.archive_index", language=language))
    response.vary.add("Accept-Language")
    return response


@blueprint.get("/archive/<language>/")
def archive_index(language: str) -> ResponseReturnValue:
    """The archived campaigns, as readers of ``language`` received them."""
    language = _archive_language(language)
    return render_template(
        "public/archive.html",
        entries=archive.entries(language),
        language=language,
        languages=PUBLIC_LANGUAGES,
    )


@blueprint.get("/archive/<language>/feed.atom")
def archive_feed(language: str) -> ResponseReturnValue:
    """An Atom feed of the archive in one language."""
    language = _archive_language(language)
    entries = archive.entries(language)
    body = render_template(
        "public/archive.atom.xml",
        entries=entries,
        language=language,
        updated=max((e.published for e in entries), default=None),
        self_url=url_for("public.archive_feed", language=language, _external=True),
        index_url=url_for("public.archive_index", language=language, _external=True),
    )
    return Response(body, mimetype="application/atom+xml")


@blueprint.get("/archive/<campaign_uid>/<language>")
def archive_page(campaign_uid: str, language: str) -> ResponseReturnValue:
    """One archived campaign as readers of ``language`` received it, without personal data."""
    language = _archive_language(language)
    try:
        _campaign, rendered, _chosen = archive.page(campaign_uid, language)
    except NotFound:
        abort(404)
    response = Response(rendered.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = ARCHIVE_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
