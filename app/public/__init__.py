"""Public pages, reached from links in messages: no login, no cookies needed."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.errors import InvalidInput, NotFound
from app.extensions import csrf
from app.languages import normalize_tag
from app.services import archive, reports, subscriptions
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


# Until the public pages have Babel catalogues: the report-back form's words.
REPORT_WORDS = {
    "en": {
        "heading": "Tell us about your action",
        "title": "What was it called?",
        "event_date": "Date",
        "place": "Place",
        "links": "Links to photos and videos, one per line",
        "text": "What happened?",
        "send": "Send",
        "thanks": "Thank you! The organisers will read it.",
        "another": "Report another action",
    },
    "uk": {
        "heading": "Розкажіть про вашу акцію",
        "title": "Як вона називалася?",
        "event_date": "Дата",
        "place": "Місце",
        "links": "Посилання на фото й відео, по одному в рядку",
        "text": "Що відбулося?",
        "send": "Надіслати",
        "thanks": "Дякуємо! Організатори прочитають.",
        "another": "Розповісти ще про одну акцію",
    },
    "es": {
        "heading": "Cuéntanos tu acción",
        "title": "¿Cómo se llamó?",
        "event_date": "Fecha",
        "place": "Lugar",
        "links": "Enlaces a fotos y vídeos, uno por línea",
        "text": "¿Qué pasó?",
        "send": "Enviar",
        "thanks": "¡Gracias! La organización lo leerá.",
        "another": "Contar otra acción",
    },
    "fr": {
        "heading": "Racontez-nous votre action",
        "title": "Son nom ?",
        "event_date": "Date",
        "place": "Lieu",
        "links": "Liens vers photos et vidéos, un par ligne",
        "text": "Que s'est-il passé ?",
        "send": "Envoyer",
        "thanks": "Merci ! Les organisateur·ices le liront.",
        "another": "Raconter une autre action",
    },
    "de": {
        "heading": "Erzählt uns von eurer Aktion",
        "title": "Wie hieß sie?",
        "event_date": "Datum",
        "place": "Ort",
        "links": "Links zu Fotos und Videos, einer pro Zeile",
        "text": "Was ist passiert?",
        "send": "Senden",
        "thanks": "Danke! Das Orga-Team liest es.",
        "another": "Noch eine Aktion melden",
    },
    "pl": {
        "heading": "Opowiedzcie o waszej akcji",
        "title": "Jak się nazywała?",
        "event_date": "Data",
        "place": "Miejsce",
        "links": "Linki do zdjęć i filmów, po jednym w wierszu",
        "text": "Co się wydarzyło?",
        "send": "Wyślij",
        "thanks": "Dziękujemy! Organizatorzy to przeczytają.",
        "another": "Opowiedz o kolejnej akcji",
    },
}
REPORT_FIELDS = ("title", "event_date", "place", "links", "text")


@blueprint.route("/r/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def report(token: str) -> ResponseReturnValue:
    """The report-back form for one group and one campaign, in the reader's language."""
    try:
        subscriber, campaign = reports.resolve(token)
    except InvalidToken as exc:
        return render_template("public/invalid.html", message=str(exc)), 400
    language = subscriber.language
    words = REPORT_WORDS.get(language.split("-")[0], REPORT_WORDS["en"])
    values = {field: request.form.get(field, "") for field in REPORT_FIELDS}
    error, field, done = "", "", False
    if request.method == "POST":
        try:
            reports.submit(token, **values)
        except InvalidInput as exc:
            error, field = str(exc), exc.field or ""
        else:
            done, values = True, dict.fromkeys(REPORT_FIELDS, "")
    return render_template(
        "public/report.html",
        campaign=campaign,
        language=language,
        words=words,
        values=values,
        error=error,
        error_field=field,
        done=done,
    ), (422 if error else 200)
