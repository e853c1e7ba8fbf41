"""Panel pages for campaigns: create, write variants, preview, send, watch progress."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.errors import TocsinError
from app.languages import NAMES
from app.models import Campaign
from app.panel import blueprint
from app.panel.forms import ActionForm, CampaignForm, VariantForm, choices
from app.services import campaigns as service
from app.services import lists, previews


@blueprint.get("/campaigns")
def campaigns() -> ResponseReturnValue:
    """All campaigns with their progress."""
    rows = [(c, service.counts(c.id)) for c in service.all_campaigns()]
    return render_template("panel/campaigns.html", rows=rows)


@blueprint.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new() -> ResponseReturnValue:
    """Create a draft campaign."""
    form = CampaignForm()
    all_lists = [mailing_list for mailing_list, _n in lists.lists_with_counts()]
    form.lists.choices = choices([(m.id, m.name) for m in all_lists])
    if form.validate_on_submit():
        try:
            campaign = service.create_campaign(
                form.name.data or "",
                lists=[m for m in all_lists if m.id in (form.lists.data or [])],
                default_language=form.default_language.data or "en",
                fallbacks=(form.fallbacks.data or "").split(),
                from_address=form.from_address.data or "",
                smtp_server=form.smtp_server.data or None,
            )
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            return redirect(url_for("panel.campaign", campaign_id=campaign.id))
    return render_template("panel/campaign_new.html", form=form)


@blueprint.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int) -> ResponseReturnValue:
    """One campaign: its variants, its audience and its progress."""
    found = _get_or_404(campaign_id)
    return render_template(
        "panel/campaign.html",
        campaign=found,
        progress=service.progress(campaign_id),
        form_token=ActionForm(),
        editable=found.status in service.EDITABLE,
        names=NAMES,
    )


@blueprint.get("/campaigns/<int:campaign_id>/progress.json")
def campaign_progress(campaign_id: int) -> ResponseReturnValue:
    """Progress as JSON, polled by the campaign page."""
    _get_or_404(campaign_id)
    return jsonify(service.progress(campaign_id))


@blueprint.post("/campaigns/<int:campaign_id>/send")
def campaign_send(campaign_id: int) -> ResponseReturnValue:
    """Start sending now."""
    _get_or_404(campaign_id)
    try:
        count = service.start_sending(campaign_id)
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Sending to {count} recipients.", "info")
    return redirect(url_for("panel.campaign", campaign_id=campaign_id))


ACTIONS = {
    "pause": (service.pause, "Paused."),
    "resume": (service.resume, "Sending again."),
    "cancel": (service.cancel, "Cancelled."),
    "resend": (service.resend, "Sending again to failed and unknown deliveries."),
}


@blueprint.post("/campaigns/<int:campaign_id>/<any(pause, resume, cancel, resend):action>")
def campaign_action(campaign_id: int, action: str) -> ResponseReturnValue:
    """Pause, resume, cancel, or resend to failed/unknown."""
    _get_or_404(campaign_id)
    function, done = ACTIONS[action]
    try:
        function(campaign_id)
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash(done, "info")
    return redirect(url_for("panel.campaign", campaign_id=campaign_id))


@blueprint.route("/campaigns/<int:campaign_id>/variant", methods=["GET", "POST"])
def variant_edit(campaign_id: int) -> ResponseReturnValue:
    """Write or change the variant in one language (``?language=uk``)."""
    found = _get_or_404(campaign_id)
    language = request.args.get("language", "")
    existing = next((v for v in found.variants if v.language == language), None)
    form = VariantForm(obj=existing, language=language or None)
    if form.validate_on_submit():
        try:
            saved = service.save_variant(
                campaign_id,
                form.language.data or "",
                subject=form.subject.data or "",
                preheader=form.preheader.data or "",
                body=form.body.data or "",
                body_format=form.body_format.data or "markdown",
                ready=bool(form.ready.data),
            )
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Saved the {saved.language} variant.", "info")
            return redirect(url_for("panel.campaign", campaign_id=campaign_id))
    return render_template("panel/variant.html", campaign=found, form=form, language=language)


@blueprint.get("/campaigns/<int:campaign_id>/preview/<language>")
def variant_preview(campaign_id: int, language: str) -> ResponseReturnValue:
    """Show one language as a recipient would see it: HTML, text part and headers."""
    found = _get_or_404(campaign_id)
    try:
        preview = previews.preview(found, language)
    except TocsinError as exc:
        abort(404, str(exc))
    return render_template(
        "panel/preview.html",
        campaign=found,
        preview=preview,
        languages=[v.language for v in found.variants],
    )


def _get_or_404(campaign_id: int) -> Campaign:
    try:
        return service.get(campaign_id)
    except TocsinError:
        abort(404)
