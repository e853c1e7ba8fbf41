"""Panel pages for layouts (the sandboxed Jinja HTML that wraps every message body) and for
the wording of system emails."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.errors import TocsinError
from app.languages import normalize_tag
from app.messages import layouts as saved_layouts
from app.messages import system_emails
from app.models import Template
from app.panel import blueprint
from app.panel.forms import ActionForm, SystemEmailForm, TemplateForm, show_error


@blueprint.get("/templates")
def layouts() -> ResponseReturnValue:
    """Every layout, and the built-in one."""
    return render_template(
        "panel/layouts.html", layouts=saved_layouts.all_templates(), form_token=ActionForm()
    )


@blueprint.route("/templates/new", methods=["GET", "POST"])
@blueprint.route("/templates/<int:template_id>", methods=["GET", "POST"])
def layout_edit(template_id: int | None = None) -> ResponseReturnValue:
    """Write a layout (starting from the built-in one) or change one; broken ones are refused."""
    found: Template | None = _get_or_404(template_id) if template_id is not None else None
    form = TemplateForm(obj=found)
    if found is None and not form.is_submitted():
        form.html.data = saved_layouts.default_layout()
    if form.validate_on_submit():
        try:
            saved = saved_layouts.save_template(
                form.name.data or "", form.html.data or "", template_id
            )
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash(f"Saved the layout {saved.name}.", "info")
            return redirect(url_for("panel.layout_edit", template_id=saved.id))
    return render_template("panel/layout_edit.html", form=form, layout=found)


@blueprint.post("/templates/<int:template_id>/delete")
def layout_delete(template_id: int) -> ResponseReturnValue:
    """Delete a layout that no sent or sending campaign uses."""
    _get_or_404(template_id)
    try:
        saved_layouts.delete_template(template_id)
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash("Deleted.", "info")
    return redirect(url_for("panel.layouts"))


def _get_or_404(template_id: int) -> Template:
    try:
        return saved_layouts.get(template_id)
    except TocsinError:
        abort(404)


@blueprint.get("/system-emails")
def system_email_list() -> ResponseReturnValue:
    """The system emails in every language, built-in or written by the organisers."""
    return render_template("panel/system_emails.html", wordings=system_emails.all_wordings())


@blueprint.route("/system-emails/<kind>/<language>", methods=["GET", "POST"])
def system_email_edit(kind: str, language: str) -> ResponseReturnValue:
    """Change one system email in one language, see it rendered, or go back to the built-in."""
    try:
        chosen = system_emails.kind_of(kind)
        language = normalize_tag(language)
    except TocsinError:
        abort(404)
    current = system_emails.wording(chosen, language)
    form = SystemEmailForm(subject=current.subject, body=current.body)
    if form.validate_on_submit():
        try:
            system_emails.save(chosen, language, form.subject.data or "", form.body.data or "")
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash("Saved.", "info")
            return redirect(url_for("panel.system_email_edit", kind=kind, language=language))
    subject, html = system_emails.preview(chosen, language, current_app.config)
    return render_template(
        "panel/system_email.html",
        form=form,
        kind=chosen,
        language=language,
        current=current,
        subject=subject,
        html=html,
        form_token=ActionForm(),
    )


@blueprint.post("/system-emails/<kind>/<language>/reset")
def system_email_reset(kind: str, language: str) -> ResponseReturnValue:
    """Forget the organisers' wording in one language."""
    try:
        system_emails.reset(system_emails.kind_of(kind), language)
    except TocsinError:
        abort(404)
    flash("Back to the built-in wording.", "info")
    return redirect(url_for("panel.system_email_edit", kind=kind, language=language))
