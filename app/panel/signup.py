"""The sign-up form of a public list: its address and an HTML snippet for partners' sites."""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_babel import force_locale

from app.extensions import db
from app.i18n import supported
from app.models import ListVisibility, MailingList
from app.panel import blueprint


@blueprint.get("/lists/<int:list_id>/sign-up")
def list_signup(list_id: int) -> ResponseReturnValue:
    """Show where people sign up to a list, and a form to paste into another site."""
    found = db.session.get(MailingList, list_id)
    if found is None:
        abort(404)
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    url = f"{base}/s/{found.slug}"
    # The snippet names no language: the form page picks the reader's browser language, else
    # the list's. Its own labels are in the list's language, the partner site's audience.
    with force_locale(supported(found.default_language) or "en"):
        snippet = render_template("panel/signup_snippet.html", url=url, mailing_list=found)
    return render_template(
        "panel/signup.html",
        mailing_list=found,
        public=found.visibility == ListVisibility.PUBLIC,
        url=url,
        snippet=snippet,
    )
