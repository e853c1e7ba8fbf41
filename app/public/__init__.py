"""Public pages, reached from links in messages: no login, no cookies needed."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.errors import InvalidInput, NotFound
from app.extensions import csrf
from app.languages import normalize_tag
from app.services import archive, subscriptions
from app.services.composing import footer_words
from app.services.tokens import InvalidToken

blueprint = Blueprint("public", __name__)


@blueprint.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof; RFC 8058 one-click POSTs carry no cookie
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET shows a button; POST (also RFC 8058 one-click) unsubscribes and answers 200."""
    try:
        if request.method == "POST":
            # A mail client's RFC 8058 one-click POST gets no goodbye email; a person does.
            one_click = request.form.get("List-Unsubscribe") == "One-Click"
            target = subscriptions.unsubscribe(token, goodbye=not one_click)
        else:
            target = subscriptions.resolve_unsubscribe(token)
    except InvalidToken as exc:
        return render_template("public/invalid.html", message=str(exc)), 400
    language = target.subscriber.language
    return render_template(
        "public/unsubscribe.html",
        done=request.method == "POST",
        lists=target.lists,
        language=language,
        label=footer_words(language)[1],
    )


# Organiser-written HTML is shown in a sandbox of its own: no scripts, no forms, a unique
# origin, so nothing on an archive page can touch the panel's cookies.
ARCHIVE_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)

# Until the public pages have Babel catalogues: the archive's few words.
ARCHIVE_WORDS = {
    "en": ("Archive", "Nothing has been published yet.", "Atom feed"),
    "uk": ("Архів", "Ще нічого не опубліковано.", "Стрічка Atom"),
    "es": ("Archivo", "Todavía no se ha publicado nada.", "Canal Atom"),
    "fr": ("Archives", "Rien n'a encore été publié.", "Flux Atom"),
    "de": ("Archiv", "Noch nichts veröffentlicht.", "Atom-Feed"),
    "pl": ("Archiwum", "Jeszcze nic nie opublikowano.", "Kanał Atom"),
}


def _archive_language(language: str) -> str:
    try:
        return normalize_tag(language)
    except InvalidInput:
        abort(404)


@blueprint.get("/archive/<language>/")
def archive_index(language: str) -> ResponseReturnValue:
    """The archived campaigns, as readers of ``language`` received them."""
    language = _archive_language(language)
    words = ARCHIVE_WORDS.get(language.split("-")[0], ARCHIVE_WORDS["en"])
    return render_template(
        "public/archive.html",
        entries=archive.entries(language),
        language=language,
        words=words,
        languages=sorted(ARCHIVE_WORDS),
    )


@blueprint.get("/archive/<language>/feed.atom")
def archive_feed(language: str) -> ResponseReturnValue:
    """An Atom feed of the archive in one language."""
    language = _archive_language(language)
    entries = archive.entries(language)
    words = ARCHIVE_WORDS.get(language.split("-")[0], ARCHIVE_WORDS["en"])
    body = render_template(
        "public/archive.atom.xml",
        entries=entries,
        language=language,
        title=words[0],
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
