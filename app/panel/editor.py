"""The variant editor's live preview: the unsaved text of a variant rendered for the sample
reader, as JSON for the page's script (``app/static/editor.js``); nothing is saved."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request
from flask.typing import ResponseReturnValue

from app.campaigns import drafts
from app.errors import InvalidInput, TocsinError, TooLong
from app.messages import previews
from app.models import Campaign
from app.panel import blueprint


@blueprint.post("/campaigns/<int:campaign_id>/variant/draft-preview")
def variant_draft_preview(campaign_id: int) -> ResponseReturnValue:
    """The editor's live preview: unsaved text rendered for the sample reader, as JSON
    ``{html, text, subject, error}``; nothing is saved. Editors and owners only (a POST)."""
    found = _campaign_or_404(campaign_id)
    try:  # a body over the request cap is answered before this (panel._too_large)
        posted = request.get_json(silent=True)
        if not isinstance(posted, dict):
            raise InvalidInput("send the draft as a JSON object")
        shown = previews.preview_draft(found, _draft_from(posted))
    except InvalidInput as exc:
        return _draft_error(exc)
    return jsonify(html=shown.html, text=shown.text, subject=shown.subject, error=None)


def _draft_from(posted: dict[str, Any]) -> previews.Draft:
    def text(name: str) -> str:
        value = posted.get(name, "")
        return value if isinstance(value, str) else ""

    footer = (text("footer_reason"), text("unsubscribe_label"), text("preferences_label"))
    return previews.Draft(
        text("language"),
        text("subject"),
        text("preheader"),
        text("body"),
        text("body_format") or "markdown",
        footer if all(footer) else ("", "", ""),
    )


def _draft_error(exc: InvalidInput) -> ResponseReturnValue:
    problem = exc if isinstance(exc, previews.DraftProblem) else None
    error = {
        "message": problem.detail if problem else str(exc),
        "line": problem.line if problem else None,
        "part": problem.part if problem else exc.field,
    }
    status = 413 if isinstance(exc, TooLong) and exc.field == "body" else 422
    return jsonify(html=None, text=None, subject=None, error=error), status


def _campaign_or_404(campaign_id: int) -> Campaign:
    try:
        return drafts.get(campaign_id)
    except TocsinError:
        abort(404)
