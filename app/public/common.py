"""The blueprint and what its pages share: the language of each request, the page for a bad
or expired link, and the keys of the sign-up limits."""

from __future__ import annotations

from flask import (
    Blueprint,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from app.audience import subscriptions
from app.errors import NotFound
from app.i18n import forget_language, speak
from app.tokens import ExpiredLink, InvalidToken

blueprint = Blueprint("public", __name__)


@blueprint.before_request
def _fresh_language() -> None:
    """Each request picks its own language (an app context, and its ``g``, may outlive one
    request, as in tests)."""
    forget_language()


def invalid_link(exc: InvalidToken) -> ResponseReturnValue:
    if isinstance(exc, ExpiredLink):  # genuine but old: offer a fresh one
        speak()
        return render_template("public/link_expired.html", values={"email": ""}), 410
    return render_template("public/invalid.html", message=str(exc)), 400


def form_list_language() -> str | None:
    """The default language of the public list whose form this request is for, if any."""
    slug = (request.view_args or {}).get("slug")
    if not slug:
        return None
    try:
        return subscriptions.public_list(slug).default_language
    except NotFound:
        return None


def submitted_address() -> str:
    """Rate-limit key: the address typed in the form, as typed (known or not alike)."""
    return "address:" + request.form.get("email", "").strip().lower()


@blueprint.errorhandler(429)
def _too_many(_error: Exception) -> ResponseReturnValue:
    speak(request.form.get("language") or None, default=form_list_language())
    return render_template("public/too_many.html"), 429
