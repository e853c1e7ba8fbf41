"""Panel pages for campaigns: settings, variants, the language table, previews, test sends,
schedules, sending and live progress, and campaign files."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.audience import groups, lists
from app.campaigns import (
    campaign_files,
    drafts,
    lifecycle,
    readiness,
    results,
    returns,
    send_plans,
)
from app.campaigns.send_plans import PlanChanged
from app.errors import TocsinError
from app.languages import NAMES
from app.messages import composing, layouts, outbox, previews
from app.models import Campaign
from app.panel import blueprint, privacy
from app.panel.forms import (
    ActionForm,
    CampaignForm,
    CampaignImportForm,
    ConfirmScheduleForm,
    ConfirmSendForm,
    ScheduleForm,
    SendForm,
    TestSendForm,
    VariantForm,
    choices,
    flash_language_notes,
    show_error,
)


@blueprint.get("/campaigns")
def campaigns() -> ResponseReturnValue:
    """All campaigns with their progress."""
    rows = [(c, results.counts(c.id)) for c in drafts.all_campaigns()]
    return render_template("panel/campaigns.html", rows=rows, import_form=CampaignImportForm())


def _settings_form(campaign: Campaign | None = None) -> tuple[CampaignForm, dict[str, Any]]:
    """The settings form with its choices filled; and the lookups to read it back."""
    form = CampaignForm(obj=campaign) if campaign and request.method == "GET" else CampaignForm()
    all_lists = [mailing_list for mailing_list, _n in lists.lists_with_counts()]
    all_templates = layouts.all_templates()
    form.lists.choices = choices([(m.id, m.name) for m in all_lists])
    form.template.choices = choices(
        [(0, "Built-in layout"), *((t.id, t.name) for t in all_templates)]
    )
    form.filter_groups.choices = choices([(g.id, g.name) for g in groups.all_groups()])
    if campaign is not None and request.method == "GET":
        filters = campaign.filters or {}
        form.lists.data = [m.id for m in campaign.lists]
        form.template.data = campaign.template_id or 0
        form.fallbacks.data = " ".join(campaign.fallbacks or [])
        form.filter_languages.data = " ".join(filters.get("languages", []))
        form.filter_countries.data = " ".join(filters.get("countries", []))
        form.filter_groups.data = list(filters.get("groups", []))
    return form, {"lists": all_lists, "templates": {t.id: t for t in all_templates}}


# The settings form's names for the fields a service's refusal names differently.
SETTINGS_FIELDS = {
    "countries": "filter_countries",
    "groups": "filter_groups",
}


def _settings_from(form: CampaignForm, lookups: dict[str, Any]) -> dict[str, Any]:
    chosen = set(form.lists.data or [])
    return {
        "lists": [m for m in lookups["lists"] if m.id in chosen],
        "default_language": form.default_language.data or "en",
        "fallbacks": (form.fallbacks.data or "").split(),
        "from_address": form.from_address.data or "",
        "smtp_server": form.smtp_server.data or None,
        "template": lookups["templates"].get(form.template.data or 0),
        "archive": bool(form.archive.data),
        "filters": {
            "languages": (form.filter_languages.data or "").split(),
            "countries": (form.filter_countries.data or "").split(),
            "groups": list(form.filter_groups.data or []),
        },
    }


@blueprint.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new() -> ResponseReturnValue:
    """Create a draft campaign."""
    form, lookups = _settings_form()
    if form.validate_on_submit():
        try:
            campaign = drafts.create_campaign(form.name.data or "", **_settings_from(form, lookups))
        except TocsinError as exc:
            show_error(form, exc, names=SETTINGS_FIELDS)
        else:
            flash_language_notes(*_typed_languages(form))
            return redirect(url_for("panel.campaign", campaign_id=campaign.id))
    return render_template("panel/campaign_new.html", form=form, campaign=None)


def _typed_languages(form: CampaignForm) -> list[str]:
    return [
        form.default_language.data or "",
        form.fallbacks.data or "",
        form.filter_languages.data or "",
    ]


@blueprint.route("/campaigns/<int:campaign_id>/settings", methods=["GET", "POST"])
def campaign_settings(campaign_id: int) -> ResponseReturnValue:
    """Change a draft's settings: lists, filters, languages, layout, sender, archive."""
    found = _get_or_404(campaign_id)
    form, lookups = _settings_form(found)
    if form.validate_on_submit():
        try:
            drafts.update_campaign(
                campaign_id, form.name.data or "", **_settings_from(form, lookups)
            )
        except TocsinError as exc:
            show_error(form, exc, names=SETTINGS_FIELDS)
        else:
            flash("Saved the settings.", "info")
            flash_language_notes(*_typed_languages(form))
            return redirect(url_for("panel.campaign", campaign_id=campaign_id))
    return render_template("panel/campaign_new.html", form=form, campaign=found)


@blueprint.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int) -> ResponseReturnValue:
    """One campaign: its variants, who gets which language, test sends, and progress."""
    found = _get_or_404(campaign_id)
    editable = found.status in drafts.EDITABLE
    plan = readiness.language_plan(found) if editable else []
    test_form = TestSendForm()
    test_form.languages.choices = choices([(v.language, v.language) for v in found.variants])
    schedule_form = ScheduleForm(timezone=current_user.timezone)
    return render_template(
        "panel/campaign.html",
        campaign=found,
        progress=results.progress(campaign_id),
        returned=None if editable else returns.of_campaign(campaign_id),
        form_token=ActionForm(),
        send_form=SendForm(),
        schedule_form=schedule_form,
        test_form=test_form,
        test_sends=outbox.recent(campaign_id),
        editable=editable,
        plan=plan,
        waiting=[row for row in plan if row.waits_for_variant],
        english_footer=composing.english_footer_languages(found.variants),
        names=NAMES,
        group_names={g.id: g.name for g in groups.all_groups()},
    )


@blueprint.get("/campaigns/<int:campaign_id>/progress.json")
def campaign_progress(campaign_id: int) -> ResponseReturnValue:
    """Progress as JSON, polled by the campaign page (a server's reply in the reason may quote
    an address: masked for viewers)."""
    _get_or_404(campaign_id)
    answer = results.progress(campaign_id)
    answer["reason"] = privacy.addresses_masked(answer["reason"])
    return jsonify(answer)


@blueprint.get("/campaigns/<int:campaign_id>/test-sends.json")
def campaign_test_sends(campaign_id: int) -> ResponseReturnValue:
    """The latest test sends' statuses and the servers' replies as JSON, polled by the
    campaign page until none waits (addresses, and any a reply quotes, masked for viewers)."""
    _get_or_404(campaign_id)
    rows = [
        {
            "id": sent.id,
            "to": privacy.shown_address(sent.to_address),
            "language": sent.language,
            "status": sent.status.value,
            "reply": privacy.addresses_masked(sent.reply),
        }
        for sent in outbox.recent(campaign_id)
    ]
    return jsonify(test_sends=rows)


@blueprint.post("/campaigns/<int:campaign_id>/send")
def campaign_send(campaign_id: int) -> ResponseReturnValue:
    """Show who gets what, from whom, through which server; sending waits for the confirm."""
    _get_or_404(campaign_id)
    form = SendForm()
    if form.validate_on_submit():
        try:
            plan = send_plans.summarise(campaign_id, form.not_ready.data or None)
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            return _confirmation(plan)
    return redirect(url_for("panel.campaign", campaign_id=campaign_id))


@blueprint.post("/campaigns/<int:campaign_id>/send/confirm")
def campaign_send_confirm(campaign_id: int) -> ResponseReturnValue:
    """Start sending now, if the plan is still the one the organiser confirmed."""
    _get_or_404(campaign_id)
    form = ConfirmSendForm()
    if form.validate_on_submit():
        try:
            count = send_plans.confirm_send(
                campaign_id, form.not_ready.data or None, form.plan.data or ""
            )
        except PlanChanged as exc:
            return _confirmation(exc.plan, changed=True), 409
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Sending to {count} recipients.", "info")
    return redirect(url_for("panel.campaign", campaign_id=campaign_id))


@blueprint.post("/campaigns/<int:campaign_id>/schedule")
def campaign_schedule(campaign_id: int) -> ResponseReturnValue:
    """Show the start time in the organiser's zone and who gets what; ask before scheduling."""
    _get_or_404(campaign_id)
    form = ScheduleForm()
    if not form.validate_on_submit():
        flash("Choose a date, a time and a time zone.", "error")
        return redirect(url_for("panel.campaign", campaign_id=campaign_id))
    try:
        assert form.when.data is not None
        when = lifecycle.start_time(form.when.data, form.timezone.data or "")
        plan = send_plans.summarise(campaign_id, form.not_ready.data or None)
    except TocsinError as exc:
        flash(str(exc), "error")
        return redirect(url_for("panel.campaign", campaign_id=campaign_id))
    return _confirmation(plan, schedule=form, when=when)


@blueprint.post("/campaigns/<int:campaign_id>/schedule/confirm")
def campaign_schedule_confirm(campaign_id: int) -> ResponseReturnValue:
    """Schedule the start, if the plan is still the one the organiser confirmed."""
    _get_or_404(campaign_id)
    form = ConfirmScheduleForm()
    if not form.validate_on_submit() or form.when.data is None:
        flash("Choose a date, a time and a time zone.", "error")
        return redirect(url_for("panel.campaign", campaign_id=campaign_id))
    timezone, not_ready = form.timezone.data or "", form.not_ready.data or None
    try:
        when = send_plans.confirm_schedule(
            campaign_id, form.when.data, timezone, not_ready, form.plan.data or ""
        )
    except PlanChanged as exc:
        start = lifecycle.start_time(form.when.data, timezone)
        return _confirmation(exc.plan, schedule=form, when=start, changed=True), 409
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Scheduled for {when:%Y-%m-%d %H:%M} UTC.", "info")
    return redirect(url_for("panel.campaign", campaign_id=campaign_id))


def _confirmation(
    plan: send_plans.SendPlan,
    schedule: ScheduleForm | None = None,
    when: datetime | None = None,
    changed: bool = False,
) -> str:
    """The page that shows a plan and asks to send (or schedule) exactly that."""
    return render_template(
        "panel/campaign_confirm.html",
        plan=plan,
        schedule=schedule,
        when=when,
        changed=changed,
        names=NAMES,
        csrf=ActionForm(),
    )


@blueprint.post("/campaigns/<int:campaign_id>/test")
def campaign_test_send(campaign_id: int) -> ResponseReturnValue:
    """Queue test messages of some or all languages to a few addresses."""
    found = _get_or_404(campaign_id)
    form = TestSendForm()
    form.languages.choices = choices([(v.language, v.language) for v in found.variants])
    if not form.validate_on_submit():
        flash("Give the addresses to send the test to.", "error")
    else:
        addresses = [a for a in re.split(r"[\s,;]+", form.addresses.data or "") if a]
        try:
            count = outbox.queue_test_sends(found, addresses, list(form.languages.data or []))
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"{count} test messages are on their way; their fate shows below.", "info")
    return redirect(url_for("panel.campaign", campaign_id=campaign_id, _anchor="tests"))


ACTIONS: dict[str, tuple[Callable[[int], object], str]] = {
    "pause": (lifecycle.pause, "Paused."),
    "resume": (lifecycle.resume, "Sending again."),
    "cancel": (lifecycle.cancel, "Cancelled."),
    "resend": (lifecycle.resend, "Sending again to failed and unknown deliveries."),
    "unschedule": (lifecycle.unschedule, "Unscheduled: back to draft."),
}


@blueprint.post(
    "/campaigns/<int:campaign_id>/<any(pause, resume, cancel, resend, unschedule):action>"
)
def campaign_action(campaign_id: int, action: str) -> ResponseReturnValue:
    """Pause, resume, cancel, unschedule, or resend to failed/unknown."""
    _get_or_404(campaign_id)
    function, done = ACTIONS[action]
    try:
        function(campaign_id)
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash(done, "info")
    return redirect(url_for("panel.campaign", campaign_id=campaign_id))


@blueprint.get("/campaigns/<int:campaign_id>/export.<any(toml, yaml):fmt>")
def campaign_export(campaign_id: int, fmt: str) -> ResponseReturnValue:
    """Download the campaign with all its variants as one TOML or YAML file."""
    found = _get_or_404(campaign_id)
    slug = re.sub(r"[^a-z0-9]+", "-", found.name.lower()).strip("-") or "campaign"
    return Response(
        campaign_files.export(found, fmt),
        mimetype="application/toml" if fmt == "toml" else "application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{slug}.{fmt}"'},
    )


@blueprint.post("/campaigns/import")
def campaign_import() -> ResponseReturnValue:
    """Create a draft from an uploaded TOML or YAML campaign file."""
    form = CampaignImportForm()
    if not form.validate_on_submit():
        flash("Choose a .toml or .yaml campaign file.", "error")
        return redirect(url_for("panel.campaigns"))
    upload = form.file.data
    suffix = (upload.filename or "").rsplit(".", 1)[-1].lower()
    try:
        data = upload.read(campaign_files.MAX_FILE_BYTES + 1)
        campaign = campaign_files.import_file(data, {"yml": "yaml"}.get(suffix, suffix))
    except TocsinError as exc:
        flash(f"Nothing was imported: {exc}", "error")
    else:
        flash("Imported as a draft.", "info")
        return redirect(url_for("panel.campaign", campaign_id=campaign.id))
    return redirect(url_for("panel.campaigns"))


@blueprint.route("/campaigns/<int:campaign_id>/variant", methods=["GET", "POST"])
def variant_edit(campaign_id: int) -> ResponseReturnValue:
    """Write or change the variant in one language (``?language=uk``)."""
    found = _get_or_404(campaign_id)
    language = request.args.get("language", "")
    existing = next((v for v in found.variants if v.language == language), None)
    form = VariantForm(obj=existing, language=language or None)
    if form.validate_on_submit():
        try:
            saved = drafts.save_variant(
                campaign_id,
                form.language.data or "",
                subject=form.subject.data or "",
                preheader=form.preheader.data or "",
                body=form.body.data or "",
                body_format=form.body_format.data or "markdown",
                ready=bool(form.ready.data),
                footer=(
                    form.footer_reason.data or "",
                    form.unsubscribe_label.data or "",
                    form.preferences_label.data or "",
                ),
            )
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash(f"Saved the {saved.language} variant.", "info")
            flash_language_notes(saved.language)
            return redirect(url_for("panel.campaign", campaign_id=campaign_id))
    return render_template(
        "panel/variant.html", campaign=found, form=form, language=language, names=NAMES
    )


@blueprint.get("/campaigns/<int:campaign_id>/preview/<language>")
def variant_preview(campaign_id: int, language: str) -> ResponseReturnValue:
    """One language as a chosen (or sample) subscriber sees it: HTML, text, headers. Only
    editors and owners choose the subscriber; a viewer always gets the sample reader."""
    found = _get_or_404(campaign_id)
    email = request.args.get("email", "").strip()
    if email and not privacy.sees_people():
        flash(
            "Previewing as a chosen subscriber is for editors and owners; showing a sample reader.",
            "error",
        )
        email = ""
    if language not in {v.language for v in found.variants}:
        abort(404)
    try:
        preview = previews.preview(found, language, email or None)
    except TocsinError as exc:
        flash(f"{exc}; showing a sample subscriber instead.", "error")
        preview = previews.preview(found, language)
    return render_template(
        "panel/preview.html",
        campaign=found,
        preview=preview,
        email=email,
        width=request.args.get("width", "desktop"),
        languages=[v.language for v in found.variants],
    )


def _get_or_404(campaign_id: int) -> Campaign:
    try:
        return drafts.get(campaign_id)
    except TocsinError:
        abort(404)
