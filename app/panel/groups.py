"""Panel pages for partner groups: the list, one group's page, edit, merge, delete."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.audience import counts
from app.audience import groups as service
from app.audience.filters import SubscriberFilter
from app.audience.groups import GroupFields
from app.errors import NotFound, TocsinError
from app.models import Group
from app.panel import blueprint, privacy
from app.panel.forms import ActionForm, GroupForm, MergeForm, choices, show_error


def _fields(form: GroupForm) -> GroupFields:
    return GroupFields(
        name=form.name.data or "",
        country=form.country.data or "",
        city=form.city.data or "",
        website=form.website.data or "",
        languages=form.languages.data or "",
        notes=form.notes.data or "",
    )


@blueprint.route("/groups", methods=["GET", "POST"])
def groups() -> ResponseReturnValue:
    """Every group with its size, and a form to create one."""
    form = GroupForm()
    if form.validate_on_submit():
        try:
            created = service.create_group(_fields(form))
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash(f"Created the group {created.name}.", "info")
            return redirect(url_for("panel.group", group_id=created.id))
    return render_template("panel/groups.html", rows=service.groups_with_counts(), form=form)


def _get_or_404(group_id: int) -> Group:
    try:
        return service.get(group_id)
    except NotFound:
        abort(404)


@blueprint.route("/groups/<int:group_id>", methods=["GET", "POST"])
def group(group_id: int) -> ResponseReturnValue:
    """One group: its fields to edit, its subscribers, what it reported, merge and delete."""
    found = _get_or_404(group_id)
    form = GroupForm(obj=found)
    if form.validate_on_submit():
        try:
            service.update_group(group_id, _fields(form))
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash("Saved.", "info")
            return redirect(url_for("panel.group", group_id=group_id))
    elif not form.is_submitted():
        form.languages.data = " ".join(found.languages or [])
    members = SubscriberFilter(group_id=group_id)
    return render_template(
        "panel/group.html",
        group=found,
        form=form,
        merge=_merge_form(group_id),
        members=privacy.search_subscribers(members, limit=20),
        total=counts.total(members),
        reports=service.reports_of(group_id),
        token=ActionForm(),
    )


def _merge_form(group_id: int) -> MergeForm:
    form = MergeForm()
    others = [(g.id, g.name) for g in service.all_groups() if g.id != group_id]
    form.other.choices = choices(others)
    return form


@blueprint.post("/groups/<int:group_id>/merge")
def group_merge(group_id: int) -> ResponseReturnValue:
    """Merge another group into this one (the other is deleted)."""
    form = _merge_form(group_id)
    if form.validate_on_submit():
        try:
            absorbed = service.get(form.other.data or 0).name
            service.merge_groups(group_id, form.other.data or 0)
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Merged {absorbed} into this group.", "info")
    else:
        flash("Choose a group to merge into this one.", "error")
    return redirect(url_for("panel.group", group_id=group_id))


@blueprint.post("/groups/<int:group_id>/delete")
def group_delete(group_id: int) -> ResponseReturnValue:
    """Delete a group; its subscribers stay, with no group."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        name = _get_or_404(group_id).name
        kept = service.delete_group(group_id)
    except TocsinError as exc:
        flash(str(exc), "error")
        return redirect(url_for("panel.group", group_id=group_id))
    flash(f"Deleted {name}; its {kept} subscribers stay, with no group.", "info")
    return redirect(url_for("panel.groups"))
