"""Leaving: the one-click unsubscribe every message links to, and the page a test message's
links open instead."""

from __future__ import annotations

from flask import (
    abort,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from app.audience import lists, subscriptions
from app.extensions import csrf
from app.i18n import speak
from app.models import list_names
from app.models.base import utcnow
from app.public.common import blueprint, invalid_link
from app.tokens import InvalidToken, issue_day, tokens


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
        return invalid_link(exc)
    language = speak(target.subscriber.language, default=lists.first_language(target.lists))
    return render_template(
        "public/unsubscribe.html",
        done=request.method == "POST",
        names=", ".join(list_names(target.lists, target.subscriber.language)),
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
