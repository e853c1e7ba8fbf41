"""The mail catcher view: what the local SMTP catcher received, as recipients see it.

It shows addresses, so viewers do not see it. Any file in the Maildir is shown, however
malformed: the reading side turns everything into printable text.
"""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from app.catcher import find_caught, read_caught
from app.errors import NotFound
from app.panel import blueprint
from app.panel.roles import editors_only


@blueprint.get("/catcher")
@editors_only
def catcher() -> ResponseReturnValue:
    """The caught messages, newest first, a page at a time; searchable by recipient and
    subject."""
    typed = {name: request.args.get(name, "").strip() for name in ("to", "subject")}
    search = {name: value for name, value in typed.items() if value}  # kept in page links
    found = find_caught(
        current_app.config["CATCHER_MAILDIR"],
        page=request.args.get("page", 1, type=int),
        recipient=typed["to"],
        subject=typed["subject"],
    )
    return render_template("panel/catcher.html", found=found, search=search)


@blueprint.get("/catcher/<key>")
@editors_only
def caught(key: str) -> ResponseReturnValue:
    """One caught message: headers, text part, HTML part in a sandboxed frame."""
    try:
        message = read_caught(current_app.config["CATCHER_MAILDIR"], key)
    except NotFound:
        abort(404)
    return render_template("panel/caught.html", message=message)
