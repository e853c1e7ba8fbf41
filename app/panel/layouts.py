"""Panel pages for layouts: the sandboxed Jinja HTML that wraps every message body."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.errors import TocsinError
from app.models import Template
from app.panel import blueprint
from app.panel.forms import ActionForm, TemplateForm
from app.services import templates


@blueprint.get("/templates")
def layouts() -> ResponseReturnValue:
    """Every layout, and the built-in one."""
    return render_template(
        "panel/layouts.html", layouts=templates.all_templates(), form_token=ActionForm()
    )


@blueprint.route("/templates/new", methods=["GET", "POST"])
@blueprint.route("/templates/<int:template_id>", methods=["GET", "POST"])
def layout_edit(template_id: int | None = None) -> ResponseReturnValue:
    """Write a layout (starting from the built-in one) or change one; broken ones are refused."""
    found: Template | None = _get_or_404(template_id) if template_id is not None else None
    form = TemplateForm(obj=found)
    if found is None and not form.is_submitted():
        form.html.data = templates.default_layout()
    if form.validate_on_submit():
        try:
            saved = templates.save_template(form.name.data or "", form.html.data or "", template_id)
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Saved the layout {saved.name}.", "info")
            return redirect(url_for("panel.layout_edit", template_id=saved.id))
    return render_template("panel/layout_edit.html", form=form, layout=found)


@blueprint.post("/templates/<int:template_id>/delete")
def layout_delete(template_id: int) -> ResponseReturnValue:
    """Delete a layout that no sent or sending campaign uses."""
    _get_or_404(template_id)
    try:
        templates.delete_template(template_id)
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash("Deleted.", "info")
    return redirect(url_for("panel.layouts"))


def _get_or_404(template_id: int) -> Template:
    try:
        return templates.get(template_id)
    except TocsinError:
        abort(404)
