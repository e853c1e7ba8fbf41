"""Public pages, reached from links in messages: no login, no cookies needed."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from app.extensions import csrf
from app.services import subscriptions
from app.services.composing import footer_words
from app.services.tokens import InvalidToken

blueprint = Blueprint("public", __name__)


@blueprint.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof; RFC 8058 one-click POSTs carry no cookie
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET shows a button; POST (also RFC 8058 one-click) unsubscribes and answers 200."""
    try:
        if request.method == "POST":
            target = subscriptions.unsubscribe(token)
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
