"""The mail catcher view: what the local SMTP catcher received, as recipients see it.

It shows addresses, so viewers do not see it. Any file in the Maildir is shown, however
malformed: the reading side turns everything into printable text.
"""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask.typing import ResponseReturnValue

from app.catcher import list_caught, read_caught
from app.errors import NotFound
from app.panel import blueprint
from app.panel.roles import editors_only


@blueprint.get("/catcher")
@editors_only
def catcher() -> ResponseReturnValue:
    """The newest caught messages."""
    return render_template(
        "panel/catcher.html", messages=list_caught(current_app.config["CATCHER_MAILDIR"])
    )


@blueprint.get("/catcher/<key>")
@editors_only
def caught(key: str) -> ResponseReturnValue:
    """One caught message: headers, text part, HTML part in a sandboxed frame."""
    try:
        message = read_caught(current_app.config["CATCHER_MAILDIR"], key)
    except NotFound:
        abort(404)
    return render_template("panel/caught.html", message=message)
