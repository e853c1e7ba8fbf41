"""Report-back: the form a group reaches through the personal link in a message."""

from __future__ import annotations

from flask import (
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from app.audience import lists
from app.errors import InvalidInput
from app.extensions import csrf
from app.i18n import speak
from app.public.common import blueprint, invalid_link
from app.readers import reports
from app.tokens import InvalidToken

REPORT_FIELDS = ("title", "event_date", "place", "links", "text")


@blueprint.route("/r/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof, as for unsubscribing
def report(token: str) -> ResponseReturnValue:
    """The report-back form for one group and one campaign, in the reader's language."""
    try:
        subscriber, campaign = reports.resolve(token)
    except InvalidToken as exc:
        return invalid_link(exc)
    language = speak(subscriber.language, default=lists.subscriber_language(subscriber.id))
    values = {field: request.form.get(field, "") for field in REPORT_FIELDS}
    error, field, done = "", "", False
    if request.method == "POST":
        try:
            reports.submit(token, **values)
        except InvalidInput as exc:
            error, field = str(exc), exc.field or ""
        else:
            done, values = True, dict.fromkeys(REPORT_FIELDS, "")
    return render_template(
        "public/report.html",
        subject=reports.subject_for(subscriber, campaign),
        language=language,
        values=values,
        error=error,
        error_field=field,
        done=done,
    ), (422 if error else 200)
