"""The preference centre a reader reaches from every message, its data export, and the
"send me a fresh link" form."""

from __future__ import annotations

import json

from flask import (
    Response,
    abort,
    current_app,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.audience import lists
from app.errors import InvalidInput, Required
from app.extensions import csrf, limiter
from app.i18n import PUBLIC_LANGUAGES, speak
from app.languages import NAMES
from app.public.common import blueprint, invalid_link, submitted_address
from app.readers import fresh_links, preferences
from app.tokens import InvalidToken


@blueprint.route("/p/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def preference_centre(token: str) -> ResponseReturnValue:
    """A subscriber's own page: language, name, lists, leave everything, data, erasure."""
    try:
        subscriber = preferences.resolve(token)
    except InvalidToken as exc:
        return invalid_link(exc)
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
                raise Required("confirm", message=_("Tick the box to confirm that you want this."))
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
        return invalid_link(exc)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
        },
    )


@blueprint.route("/p/new-link", methods=["GET", "POST"])
@csrf.exempt  # like the sign-up form: it only stores a request, the same for every address
@limiter.limit(lambda: str(current_app.config["SUBSCRIBE_IP_LIMIT"]), methods=["POST"])
@limiter.limit(
    lambda: str(current_app.config["SUBSCRIBE_ADDRESS_LIMIT"]),
    methods=["POST"],
    key_func=submitted_address,
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
