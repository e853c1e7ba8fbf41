"""Panel pages for CSV imports (upload, column mapping, progress, report) and exports.

Viewers see an import's counts; what shows addresses (the mapping step's sample values, the
report, exports) needs an editor or owner.
"""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from app.audience import exports, import_rows, imports
from app.audience import lists as list_service
from app.audience.filters import SubscriberFilter
from app.errors import NotFound, TocsinError
from app.languages import NAMES
from app.models import ImportJob, ImportMode, ImportStatus, SubscriberStatus
from app.panel import blueprint, privacy
from app.panel.forms import ActionForm, choices, show_error
from app.panel.roles import editors_only

MODES = [
    (ImportMode.SUBSCRIBE.value, "Subscribe, confirmed (they gave consent already)"),
    (ImportMode.OPT_IN.value, "Subscribe unconfirmed and send each a confirmation mail"),
    (ImportMode.UPDATE.value, "Update existing subscribers only"),
    (ImportMode.BLOCKLIST.value, "Blocklist every address"),
]


class SubscriberImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired()])
    list_id = SelectField("List", coerce=int, default=0)
    mode = SelectField("Mode", choices=choices(MODES), default=ImportMode.SUBSCRIBE.value)


def _job(job_id: int) -> ImportJob:
    try:
        return imports.get(job_id)
    except NotFound:
        abort(404)


@blueprint.route("/imports", methods=["GET", "POST"])
def imports_page() -> ResponseReturnValue:
    """Upload a CSV file (then map its columns), and the latest imports."""
    form = SubscriberImportForm()
    form.list_id.choices = choices(
        [(0, "—")] + [(m.id, m.name) for m, _n in list_service.lists_with_counts()]
    )
    if form.validate_on_submit():
        upload = form.file.data
        try:
            job = imports.upload(upload.stream, upload.filename, form.list_id.data, form.mode.data)
        except TocsinError as exc:
            show_error(form, exc, names={"list": "list_id"})
        else:
            return redirect(url_for("panel.import_mapping", job_id=job.id))
    return render_template("panel/imports.html", form=form, jobs=imports.recent())


@blueprint.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
@editors_only
def import_mapping(job_id: int) -> ResponseReturnValue:
    """Choose what each column holds, seeing a few sample values; then start."""
    job = _job(job_id)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.QUEUED):
        return redirect(url_for("panel.import_job", job_id=job_id))
    form = ActionForm()
    if form.validate_on_submit():
        columns = imports.preview(job_id).columns
        mapping = {c: request.form.get(f"field-{n}", "ignore") for n, c in enumerate(columns)}
        mapping |= _attribute_names(columns)
        try:
            imports.start(job_id, mapping)
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            return redirect(url_for("panel.import_job", job_id=job_id))
    return render_template(
        "panel/import_mapping.html",
        job=job,
        preview=imports.preview(job_id),
        fields=import_rows.SINGLE_FIELDS,
        form=form,
    )


def _attribute_names(columns: list[str]) -> dict[str, str]:
    """Columns mapped to "attribute": the attribute's name is the one typed beside it."""
    chosen = {}
    for number, column in enumerate(columns):
        if request.form.get(f"field-{number}") == "attribute":
            name = request.form.get(f"attribute-{number}", "").strip() or column
            chosen[column] = f"{import_rows.ATTRIBUTE}{name}"
    return chosen


@blueprint.get("/imports/<int:job_id>")
def import_job(job_id: int) -> ResponseReturnValue:
    """An import's progress bar while it runs, then its counts and report."""
    job = _job(job_id)
    return render_template(
        "panel/import.html",
        job=job,
        state=_state(job),
        form=ActionForm(),
        keep_days=float(current_app.config["IMPORT_KEEP_DAYS"]),
    )


@blueprint.get("/imports/<int:job_id>/progress")
def import_progress(job_id: int) -> ResponseReturnValue:
    """The import's state as JSON, for the progress bar."""
    return jsonify(_state(_job(job_id)))


def _state(job: ImportJob) -> dict[str, object]:
    """The job's progress; its error (a database's message may quote a row's address) is
    masked for viewers."""
    state = imports.progress_of(job)
    state["error"] = privacy.addresses_masked(str(state["error"] or ""))
    return state


@blueprint.get("/imports/<int:job_id>/report")
@editors_only
def import_report(job_id: int) -> ResponseReturnValue:
    """Download the report: every row not imported as asked, with the reason."""
    path = imports.report_path(_job(job_id))
    if not path.exists():
        abort(404)
    return send_file(
        path, mimetype="text/csv", as_attachment=True, download_name=f"import-{job_id}-report.csv"
    )


@blueprint.post("/imports/<int:job_id>/retry")
def import_retry(job_id: int) -> ResponseReturnValue:
    """Queue a failed import again."""
    if ActionForm().validate_on_submit():
        try:
            imports.retry(job_id)
        except TocsinError as exc:
            flash(str(exc), "error")
    return redirect(url_for("panel.import_job", job_id=job_id))


@blueprint.post("/imports/<int:job_id>/delete")
def import_delete(job_id: int) -> ResponseReturnValue:
    """Forget an import: its row, its file and its report."""
    if ActionForm().validate_on_submit():
        try:
            imports.delete(job_id)
        except TocsinError as exc:
            flash(str(exc), "error")
            return redirect(url_for("panel.import_job", job_id=job_id))
        flash(f"Import {job_id} is deleted, with its file and its report.", "info")
    return redirect(url_for("panel.imports_page"))


@blueprint.get("/exports")
@editors_only
def exports_page() -> ResponseReturnValue:
    """Choose who to export (list, language, status)."""
    return render_template(
        "panel/exports.html",
        lists=list_service.lists_with_counts(),
        languages=NAMES,
        statuses=[s.value for s in SubscriberStatus],
    )


@blueprint.get("/exports/subscribers.csv")
@editors_only
def export_csv() -> ResponseReturnValue:
    """The subscribers a filter picks (the export page's, or the subscriber page's), as CSV,
    streamed."""
    try:
        chosen = SubscriberFilter.from_args(request.args)
    except TocsinError as exc:
        flash(str(exc), "error")
        return redirect(url_for("panel.exports_page"))
    return Response(
        stream_with_context(exports.stream(chosen, by=current_user.email, via="panel")),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )
