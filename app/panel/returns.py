"""Panel pages for what came back: the bounce log, the inbound mail and its raw bytes, and
"mail them again" for a bounced subscriber.

The log is for every organiser (addresses masked for viewers, and the address search
refused to them, as on the subscribers' page). A raw message quotes the returned mail,
addresses and all, so it is for editors and owners only, shown as escaped text and
downloaded as plain text that no browser renders or runs.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.audience import bounce_log
from app.campaigns import drafts
from app.errors import InvalidInput, NotFound, TocsinError
from app.inbound import intake, received
from app.models import InboundStatus, ReturnKind
from app.panel import blueprint, privacy
from app.panel.forms import ActionForm
from app.panel.roles import editors_only

SOURCES = ("send", *intake.MAIL_SOURCES, *intake.PROVIDERS)
# A download of a message: text only, never sniffed, rendered as a page, or able to run.
RAW_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@blueprint.get("/bounces")
def bounces() -> ResponseReturnValue:
    """Bounces, complaints and mailto unsubscribes, newest first, filtered, a page at a time."""
    args = request.args.to_dict()
    if args.get("address") and not privacy.sees_people():
        flash("Searching by address is for editors and owners; the other filters work.", "error")
        args.pop("address")
    chosen, refused = bounce_log.read_filter(args)
    for name, problem in refused.items():
        flash(f"Filter not applied ({name}): {problem}; the other filters are.", "error")
    return render_template(
        "panel/bounces.html",
        f=chosen,
        page=bounce_log.log_page(chosen, request.args.get("before", type=int)),
        filter_errors=refused,
        kinds=[k.value for k in ReturnKind],
        sources=SOURCES,
        campaigns=drafts.all_campaigns(),
    )


@blueprint.get("/inbound")
def inbound() -> ResponseReturnValue:
    """The inbound messages, newest first: where each came from and what it did."""
    status = request.args.get("status", "")
    try:
        rows = received.recent(status, request.args.get("before", type=int))
    except InvalidInput as exc:
        flash(f"Filter not applied: {exc}.", "error")
        rows, status = received.recent(), ""
    return render_template(
        "panel/inbound.html",
        rows=rows,
        status=status,
        statuses=[s.value for s in InboundStatus],
        page_size=received.INBOUND_PAGE,
    )


@blueprint.get("/inbound/<int:inbound_id>")
@editors_only
def inbound_message(inbound_id: int) -> ResponseReturnValue:
    """One inbound message: its facts and its first bytes as escaped text."""
    try:
        message = received.get(inbound_id)
        raw = received.raw_of(inbound_id, received.SHOWN_BYTES)
    except NotFound:
        abort(404)
    return render_template(
        "panel/inbound_message.html",
        m=message,
        text=received.as_text(raw),
        cut=message.size > received.SHOWN_BYTES,
        shown=received.SHOWN_BYTES,
    )


@blueprint.get("/inbound/<int:inbound_id>/raw.txt")
@editors_only
def inbound_raw(inbound_id: int) -> ResponseReturnValue:
    """The message's bytes as a plain-text download."""
    try:
        raw = received.raw_of(inbound_id)
    except NotFound:
        abort(404)
    disposition = f'attachment; filename="inbound-{inbound_id}.txt"'
    return Response(
        raw,
        content_type="text/plain; charset=utf-8",
        headers={**RAW_HEADERS, "Content-Disposition": disposition},
    )


@blueprint.post("/subscribers/<int:subscriber_id>/mail-again")
def subscriber_mail_again(subscriber_id: int) -> ResponseReturnValue:
    """Make a bounced subscriber active again (viewers never reach here: the panel refuses
    their posts)."""
    if not ActionForm().validate_on_submit():
        flash("The form expired: try again.", "error")
    else:
        try:
            bounce_log.mail_again(subscriber_id, current_user.email)
        except NotFound:
            abort(404)
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash("They will be mailed again: score cleared, bounce suppression lifted.", "info")
    return redirect(url_for("panel.subscriber", subscriber_id=subscriber_id))
