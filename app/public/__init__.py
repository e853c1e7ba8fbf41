"""Public pages, reached from links in messages: no login, no cookies needed, each in the
reader's language (Flask-Babel; see ``app.i18n``)."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
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
from flask_babel import gettext as _

from app.errors import InvalidInput, NotFound
from app.extensions import csrf, limiter
from app.i18n import PUBLIC_LANGUAGES, forget_language, speak
from app.languages import NAMES, normalize_tag
from app.models import MailingList
from app.models.base import utcnow
from app.services import archive, fresh_links, lists, preferences, reports, subscriptions
from app.services.subscribers import MAX_NAME
from app.services.tokens import ExpiredLink, InvalidToken, issue_day, tokens

blueprint = Blueprint("public", __name__)


@blueprint.before_request
def _fresh_language() -> None:
    """Each request picks its own language (an app context, and its ``g``, may outlive one
    request, as in tests)."""
    forget_language()


def _invalid(exc: InvalidToken) -> ResponseReturnValue:
    if isinstance(exc, ExpiredLink):  # genuine but old: offer a fresh one
        speak()
        return render_template("public/link_expired.html", values={"email": ""}), 410
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
    language = speak(target.subscriber.language, default=lists.first_language(target.lists))
    return render_template(
        "public/unsubscribe.html",
        done=request.method == "POST",
        names=", ".join(lists.names_in(target.lists, target.subscriber.language)),
        language=language,
        # Dated as the mail was: an old unsubscribe link does not renew the preference link.
        preferences_token=tokens().preferences(
            target.subscriber.uid, issue_day(target.sent_at or utcnow())
        ),
    )


# The personal links of previews and test sends (``MessageFactory`` in preview mode).
PREVIEW_LINKS = ("unsubscribe", "preferences", "report")


@blueprint.route("/preview-link/<which>", methods=["GET", "POST"])
@csrf.exempt  # it changes nothing: a one-click POST from a test message lands here too
def preview_link(which: str) -> ResponseReturnValue:
    """Where a preview's or a test message's personal links lead: a page saying so."""
    if which not in PREVIEW_LINKS:
        abort(404)
    speak()
    return render_template("public/preview_link.html")


@blueprint.route("/p/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def preference_centre(token: str) -> ResponseReturnValue:
    """A subscriber's own page: language, name, lists, leave everything, data, erasure."""
    try:
        subscriber = preferences.resolve(token)
    except InvalidToken as exc:
        return _invalid(exc)
    # The list's language is settled before any change: leaving does not switch the page.
    list_language = lists.subscriber_language(subscriber.id)
    speak(subscriber.language, default=list_language)
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
            speak(subscriber.language, default=list_language)
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


REPORT_FIELDS = ("title", "event_date", "place", "links", "text")


@blueprint.route("/r/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def report(token: str) -> ResponseReturnValue:
    """The report-back form for one group and one campaign, in the reader's language."""
    try:
        subscriber, campaign = reports.resolve(token)
    except InvalidToken as exc:
        return _invalid(exc)
    language = speak(subscriber.language, default=lists.subscriber_language(subscriber.id))
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
        subject=reports.subject_for(subscriber, campaign),
        language=language,
        values=values,
        error=error,
        error_field=field,
        done=done,
    ), (422 if error else 200)


def _form_list_language() -> str | None:
    """The default language of the public list whose form this request is for, if any."""
    slug = (request.view_args or {}).get("slug")
    if not slug:
        return None
    try:
        return subscriptions.public_list(slug).default_language
    except NotFound:
        return None


def _submitted_address() -> str:
    """Rate-limit key: the address typed in the form, as typed (known or not alike)."""
    return "address:" + request.form.get("email", "").strip().lower()


@blueprint.errorhandler(429)
def _too_many(_error: Exception) -> ResponseReturnValue:
    speak(request.form.get("language") or None, default=_form_list_language())
    return render_template("public/too_many.html"), 429


@blueprint.route("/s/<slug>", methods=["GET", "POST"])
@csrf.exempt  # the form may be embedded on a partner's site; double opt-in is the proof
@limiter.limit(lambda: str(current_app.config["SUBSCRIBE_IP_LIMIT"]), methods=["POST"])
@limiter.limit(
    lambda: str(current_app.config["SUBSCRIBE_ADDRESS_LIMIT"]),
    methods=["POST"],
    key_func=_submitted_address,
)
def subscribe(slug: str) -> ResponseReturnValue:
    """A public list's sign-up form. Whatever the address (new, waiting, subscribed,
    suppressed), the answer is the same page, status and headers, after the same work: the
    form only stores the request, and the worker applies it."""
    try:
        mailing_list = subscriptions.public_list(slug)
    except NotFound:
        abort(404)
    form = {key: request.form.get(key, "") for key in ("email", "name", "language")}
    current = speak(form["language"] or None, default=mailing_list.default_language)
    page = {
        "current": current,
        "mailing_list": mailing_list,
        "wording": lists.wording(mailing_list, current),
        "values": form,
        "languages": [(tag, NAMES.get(tag, tag)) for tag in PUBLIC_LANGUAGES],
        "started": tokens().form_started(),
    }
    if request.method == "GET":
        return render_template("public/subscribe.html", **page)
    age = tokens().form_age(request.form.get("started", ""))
    if request.form.get("website"):  # the honeypot: people never see this field
        return _signed_up(mailing_list, current)
    if age is None:  # an embedded form, or a stale page: one more click on our own form
        return render_template("public/subscribe.html", one_more_step=True, **page)
    if age < float(current_app.config["SUBSCRIBE_MIN_SECONDS"]):
        return _signed_up(mailing_list, current)
    try:
        subscriptions.request_sign_up(mailing_list, form["email"], form["name"], form["language"])
    except InvalidInput as exc:
        # Checked before any look-up, so the answer never depends on who the address is.
        if exc.field == "name":
            error = _("Please give a name of at most %(count)d characters.", count=MAX_NAME)
        else:
            error = _("Please give a valid email address.")
        return render_template("public/subscribe.html", error=error, **page), 422
    return _signed_up(mailing_list, current)


def _signed_up(mailing_list: MailingList, language: str) -> ResponseReturnValue:
    wording = lists.wording(mailing_list, language)
    return render_template("public/signed_up.html", mailing_list=mailing_list, wording=wording)


@blueprint.route("/p/new-link", methods=["GET", "POST"])
@csrf.exempt  # like the sign-up form: it only stores a request, the same for every address
@limiter.limit(lambda: str(current_app.config["SUBSCRIBE_IP_LIMIT"]), methods=["POST"])
@limiter.limit(
    lambda: str(current_app.config["SUBSCRIBE_ADDRESS_LIMIT"]),
    methods=["POST"],
    key_func=_submitted_address,
)
def fresh_link() -> ResponseReturnValue:
    """Ask for a fresh preference link. Whatever the address (a subscriber's or not), the
    answer is the same page, status and headers, after the same work: the request is
    stored, and the worker sends the link (or nothing)."""
    speak()
    email = request.form.get("email", "") if request.method == "POST" else ""
    if request.method == "GET":
        return render_template("public/fresh_link.html", values={"email": ""})
    try:
        fresh_links.request_link(email)
    except InvalidInput:
        error = _("Please give a valid email address.")
        return render_template("public/fresh_link.html", values={"email": email}, error=error), 422
    return render_template("public/link_requested.html")


@blueprint.route("/c/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof
def confirm(token: str) -> ResponseReturnValue:
    """GET shows a button (link scanners only look); POST confirms. Idempotent."""
    if request.method == "GET":
        try:
            subscriber_uid, list_ids = tokens().read_confirm(token, subscriptions.CONFIRM_MAX_AGE)
        except InvalidInput as exc:
            speak()
            return render_template("public/invalid.html", message=str(exc)), 400
        speak(
            subscriptions.language_of(subscriber_uid),
            default=lists.first_language_of_ids(list_ids),
        )
        return render_template("public/confirm.html", done=False)
    try:
        subscriber, confirmed = subscriptions.confirm(token)
    except InvalidInput as exc:
        speak()
        return render_template("public/invalid.html", message=str(exc)), 400
    speak(subscriber.language, default=lists.first_language(confirmed))
    return render_template(
        "public/confirm.html",
        done=True,
        lists=confirmed,
        preferences_token=tokens().preferences(subscriber.uid),
    )


from app.public import errors  # noqa: E402, F401  (registers the error pages)
