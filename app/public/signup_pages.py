"""Signing up: the public (and embeddable) form, and the double opt-in confirmation."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.audience import lists, subscriptions
from app.audience.fields import MAX_NAME
from app.errors import InvalidInput, NotFound
from app.extensions import csrf, limiter
from app.i18n import PUBLIC_LANGUAGES, speak
from app.languages import NAMES
from app.models import MailingList
from app.public.common import blueprint, submitted_address
from app.tokens import tokens


@blueprint.route("/s/<slug>", methods=["GET", "POST"])
@csrf.exempt  # the form may be embedded on a partner's site; double opt-in is the proof
@limiter.limit(lambda: str(current_app.config["SUBSCRIBE_IP_LIMIT"]), methods=["POST"])
@limiter.limit(
    lambda: str(current_app.config["SUBSCRIBE_ADDRESS_LIMIT"]),
    methods=["POST"],
    key_func=submitted_address,
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
        "wording": mailing_list.wording(current),
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
    wording = mailing_list.wording(language)
    return render_template("public/signed_up.html", mailing_list=mailing_list, wording=wording)


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
