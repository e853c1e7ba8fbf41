"""The mail catcher view: what the local SMTP catcher received, as recipients see it."""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask.typing import ResponseReturnValue

from app.catcher import list_caught, read_caught
from app.errors import NotFound
from app.panel import blueprint


@blueprint.get("/catcher")
def catcher() -> ResponseReturnValue:
    """The newest caught messages."""
    return render_template(
        "panel/catcher.html", messages=list_caught(current_app.config["CATCHER_MAILDIR"])
    )


@blueprint.get("/catcher/<key>")
def caught(key: str) -> ResponseReturnValue:
    """One caught message: headers, text part, HTML part in a sandboxed frame."""
    try:
        message = read_caught(current_app.config["CATCHER_MAILDIR"], key)
    except NotFound:
        abort(404)
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    return render_template(
        "panel/caught.html",
        message=message,
        headers=[(k, str(v)) for k, v in message.items()],
        html=html.get_content() if html else "",
        text=text.get_content() if text else "",
    )
