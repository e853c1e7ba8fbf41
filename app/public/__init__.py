"""Public pages, reached from links in messages: no login, no cookies needed, each in the
reader's language (Flask-Babel; see ``app.i18n``)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.errors import InvalidInput, NotFound
from app.extensions import csrf
from app.i18n import PUBLIC_LANGUAGES, speak
from app.languages import NAMES, normalize_tag
from app.services import archive, preferences, reports, subscriptions
from app.services.tokens import InvalidToken, tokens

blueprint = Blueprint("public", __name__)


def _invalid(exc: InvalidToken) -> ResponseReturnValue:
    return render_template("public/invalid.html", message=str(exc)), 400


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
        return _invalid(exc)
    language = speak(target.subscriber.language)
    return render_template(
        "public/unsubscribe.html",
        done=request.method == "POST",
        lists=target.lists,
        language=language,
        preferences_token=tokens().preferences(target.subscriber.uid),
    )


@blueprint.route("/p/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def preference_centre(token: str) -> ResponseReturnValue:
    """A subscriber's own page: language, name, lists, leave everything, data, erasure."""
    try:
        subscriber = preferences.resolve(token)
    except InvalidToken as exc:
        return _invalid(exc)
    speak(subscriber.language)
    action = request.form.get("action", "") if request.method == "POST" else ""
    error, field, done = "", "", ""
    try:
        if action == "save":
            list_ids = [int(v) for v in request.form.getlist("lists") if v.isdigit()]
            subscriber = preferences.update_preferences(
                token,
                name=request.form.get("name", ""),
                language=request.form.get("language", ""),
                list_ids=list_ids,
            )
            speak(subscriber.language)
            done = "saved"
        elif action == "leave":
            preferences.leave_everything(token)
            done = "left"
        elif action == "erase":
            if request.form.get("confirm") != "yes":
                raise InvalidInput(_("Tick the box to confirm that you want this."), "confirm")
            preferences.erase(token)
            return render_template("public/erased.html"), 200
        elif action:
            abort(400)
    except InvalidInput as exc:
        error, field = str(exc), exc.field or ""
    languages = sorted({*PUBLIC_LANGUAGES, subscriber.language})
    return render_template(
        "public/preferences.html",
        subscriber=subscriber,
        choices=preferences.choices(subscriber),
        languages=[(tag, NAMES.get(tag, tag)) for tag in languages],
        token=token,
        error=error,
        error_field=field,
        done=done,
    ), (422 if error else 200)


@blueprint.get("/p/<token>/data.json")
def preference_data(token: str) -> ResponseReturnValue:
    """Download everything kept about the subscriber, as JSON."""
    try:
        data = preferences.export_data(token)
    except InvalidToken as exc:
        return _invalid(exc)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
        },
    )


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


REPORT_FIELDS = ("title", "event_date", "place", "links", "text")


@blueprint.route("/r/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def report(token: str) -> ResponseReturnValue:
    """The report-back form for one group and one campaign, in the reader's language."""
    try:
        subscriber, campaign = reports.resolve(token)
    except InvalidToken as exc:
        return _invalid(exc)
    language = speak(subscriber.language)
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
        values=values,
        error=error,
        error_field=field,
        done=done,
    ), (422 if error else 200)
