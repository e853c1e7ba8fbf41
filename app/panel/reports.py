"""Panel pages for what groups reported back about a campaign."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.campaigns import drafts
from app.errors import TocsinError
from app.panel import blueprint
from app.panel.forms import ActionForm
from app.readers import reports


@blueprint.get("/campaigns/<int:campaign_id>/reports")
def campaign_reports(campaign_id: int) -> ResponseReturnValue:
    """Every report on a campaign, newest first, to approve or reject."""
    try:
        campaign = drafts.get(campaign_id)
    except TocsinError:
        abort(404)
    return render_template(
        "panel/reports.html",
        campaign=campaign,
        reports=reports.for_campaign(campaign_id),
        form_token=ActionForm(),
    )


@blueprint.post("/reports/<int:report_id>/<any(approved, rejected, pending):status>")
def report_moderate(report_id: int, status: str) -> ResponseReturnValue:
    """Approve, reject or reopen a report."""
    try:
        report = reports.moderate(report_id, status)
    except TocsinError:
        abort(404)
    flash(f"Report {status}.", "info")
    return redirect(url_for("panel.campaign_reports", campaign_id=report.campaign_id))
