"""Panel pages for lists and subscribers: search, bulk actions, one subscriber's page."""

from __future__ import annotations

from dataclasses import replace

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from app.errors import InvalidInput, NotFound, TocsinError
from app.extensions import db
from app.models import Group, MailingList, Subscriber
from app.panel import blueprint, privacy
from app.panel.forms import ActionForm, ListForm, SubscriberEditForm, SubscriberForm, choices
from app.services import counts, groups, profiles, selections, suppressions
from app.services import lists as list_service
from app.services import subscribers as subscriber_service
from app.services.selections import DESTRUCTIVE, BulkAction, Deleted, Selection
from app.services.subscribers import STATUSES, SubscriberFilter

BULK_LABELS = {
    BulkAction.ADD_TO_LIST: "Add to list",
    BulkAction.REMOVE_FROM_LIST: "Remove from list",
    BulkAction.CHANGE_LANGUAGE: "Change language",
    BulkAction.BLOCKLIST: "Blocklist (and suppress their addresses)",
    BulkAction.DELETE: "Delete",
}


@blueprint.route("/lists", methods=["GET", "POST"])
def lists() -> ResponseReturnValue:
    """All lists with their sizes, and a form to create one."""
    form = ListForm()
    if form.validate_on_submit():
        try:
            created = list_service.create_list(
                form.slug.data or "", form.name.data or "", **_list_settings(form)
            )
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Created the list {created.name}.", "info")
            return redirect(url_for("panel.lists"))
    return render_template("panel/lists.html", rows=list_service.lists_with_counts(), form=form)


def _list_settings(form: ListForm) -> dict[str, str]:
    return {
        "description": form.description.data or "",
        "visibility": form.visibility.data or "private",
        "optin": form.optin.data or "double",
        "default_language": form.default_language.data or "",
    }


@blueprint.route("/lists/<int:list_id>", methods=["GET", "POST"])
def list_settings(list_id: int) -> ResponseReturnValue:
    """A list's settings: name, description, visibility, opt-in, default language."""
    try:
        mailing_list = list_service.get(list_id)
    except NotFound:
        abort(404)
    form = ListForm(obj=mailing_list)
    del form.slug  # the slug stays: links and commands name the list by it
    if request.method == "GET":
        form.visibility.data = mailing_list.visibility.value
        form.optin.data = mailing_list.optin.value
    if form.validate_on_submit():
        try:
            list_service.update_list(list_id, form.name.data or "", **_list_settings(form))
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Saved the list {mailing_list.name}.", "info")
            return redirect(url_for("panel.lists"))
    return render_template("panel/list_settings.html", mailing_list=mailing_list, form=form)


def _filter_from(args: MultiDict[str, str]) -> SubscriberFilter:
    """The filter in the request, or none when it is bad (the problem is flashed)."""
    try:
        return SubscriberFilter.from_args(args)
    except InvalidInput as exc:
        flash(f"Filter not applied: {exc}.", "error")
        return SubscriberFilter()


@blueprint.route("/subscribers", methods=["GET", "POST"])
def subscribers() -> ResponseReturnValue:
    """Subscribers by prefix and filters, a keyset page at a time, with bulk actions."""
    form = _subscriber_form()
    if form.validate_on_submit():
        try:
            added = subscriber_service.add_subscriber(
                form.email.data or "",
                name=form.name.data or "",
                language=form.language.data or "",
                lists=[db.session.get(MailingList, i) for i in form.lists.data or []],
                group=db.session.get(Group, form.group.data) if form.group.data else None,
            )
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            counts.invalidate()
            flash(f"Added {added.email}.", "info")
            return redirect(url_for("panel.subscribers", q=added.email))
    found = _filter_from(request.args)
    if found.query and not privacy.sees_people():
        # "3 match" for a prefix would tell a viewer addresses one letter at a time.
        flash(
            "Searching by address or name is for editors and owners; the other filters work.",
            "error",
        )
        found = replace(found, query="", by="email")
    try:
        page = privacy.search_subscribers(found, after=request.args.get("after") or None)
    except InvalidInput as exc:
        flash(str(exc), "error")
        page = privacy.search_subscribers(found)
    return render_template(
        "panel/subscribers.html",
        f=found,
        page=page,
        total=counts.total(found),
        form=form,
        **_choices(),
        bulk_labels=BULK_LABELS,
        token=ActionForm(),
    )


def _choices() -> dict[str, object]:
    return {
        "all_lists": list_service.all_lists(),
        "all_groups": groups.all_groups(),
        "statuses": STATUSES,
    }


def _subscriber_form() -> SubscriberForm:
    form = SubscriberForm()
    form.lists.choices = choices([(m.id, m.name) for m in list_service.all_lists()])
    form.group.choices = choices([(0, "—")] + [(g.id, g.name) for g in groups.all_groups()])
    return form


@blueprint.post("/subscribers/bulk")
def subscribers_bulk() -> ResponseReturnValue:
    """Run a bulk action on the checked subscribers or the whole filter; big or destructive
    ones are confirmed first on a page that shows the exact count."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        # Strict, unlike the page: a bad filter must never widen "all matching" to everyone.
        found = SubscriberFilter.from_args(request.form)
    except InvalidInput as exc:
        flash(f"Nothing changed: {exc}.", "error")
        return redirect(url_for("panel.subscribers"))
    back = url_for("panel.subscribers", **found.to_args())
    action, whole = request.form.get("action", ""), request.form.get("scope") == "all"
    try:
        selection = Selection(filter=found) if whole else Selection(_ids(request.form))
        if (whole or action in DESTRUCTIVE) and not request.form.get("confirmed"):
            return _confirm_bulk(action, selection, found, whole)
        options = {
            "list_id": request.form.get("list", 0, type=int),
            "language": request.form.get("language", ""),
        }
        done = selections.apply(action, selection, **options)
    except TocsinError as exc:
        flash(str(exc), "error")
        return redirect(back)
    flash(_bulk_message(action, done, options), "info")
    return redirect(back)


def _ids(form: MultiDict[str, str]) -> tuple[int, ...]:
    try:
        return tuple(int(i) for i in form.getlist("ids"))
    except ValueError:
        raise InvalidInput("the selection holds something that is not a subscriber id") from None


def _confirm_bulk(
    action: str, selection: Selection, found: SubscriberFilter, whole: bool
) -> ResponseReturnValue:
    try:
        label = BULK_LABELS[BulkAction(action)]
    except ValueError:
        raise InvalidInput(f"{action!r} is not a bulk action", "action") from None
    return render_template(
        "panel/bulk_confirm.html",
        action=action,
        label=label,
        count=selection.count(),
        whole=whole,
        f=found,
        fields=request.form,
        token=ActionForm(),
    )


def _bulk_message(action: str, done: int | Deleted, options: dict[str, object]) -> str:
    if isinstance(done, Deleted):
        return (
            f"Deleted {done.deleted}; {done.anonymised} who were in a campaign's ledger "
            "were anonymised instead."
        )
    mailing_list = db.session.get(MailingList, options["list_id"] or 0)
    name = mailing_list.name if mailing_list else ""
    return {
        BulkAction.ADD_TO_LIST: f"Added {done} to {name}.",
        BulkAction.REMOVE_FROM_LIST: f"Removed {done} from {name}.",
        BulkAction.CHANGE_LANGUAGE: f"Changed the language of {done}.",
        BulkAction.BLOCKLIST: f"Blocklisted {done}; their addresses are suppressed.",
    }[BulkAction(action)]


@blueprint.route("/subscribers/<int:subscriber_id>", methods=["GET", "POST"])
def subscriber(subscriber_id: int) -> ResponseReturnValue:
    """One subscriber: edit every field and their lists; what they received and reported."""
    try:
        found = profiles.get(subscriber_id)
    except NotFound:
        abort(404)
    form = _edit_form(found)
    if form.validate_on_submit():
        try:
            profiles.update_subscriber(subscriber_id, **_edit_values(form))
        except TocsinError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash("Saved.", "info")
            return redirect(url_for("panel.subscriber", subscriber_id=subscriber_id))
    return render_template(
        "panel/subscriber.html",
        s=found,
        form=form,
        history=profiles.history(subscriber_id),
        check=suppressions.check_address(found.email),
    )


def _edit_form(found: Subscriber) -> SubscriberEditForm:
    form = SubscriberEditForm(obj=found) if request.method == "GET" else SubscriberEditForm()
    form.group.choices = choices([(0, "—")] + [(g.id, g.name) for g in groups.all_groups()])
    form.lists.choices = choices([(m.id, m.name) for m in list_service.all_lists()])
    if request.method == "GET":
        form.group.data = found.group_id or 0
        form.status.data = found.status.value
        form.attributes.data = profiles.attributes_text(found)
        form.lists.data = profiles.current_list_ids(found.id)
    return form


def _edit_values(form: SubscriberEditForm) -> dict[str, object]:
    return {
        "email": form.email.data or "",
        "name": form.name.data or "",
        "language": form.language.data or "",
        "country": form.country.data or "",
        "group_id": form.group.data or None,
        "status": form.status.data or "",
        "attributes": form.attributes.data or "",
        "list_ids": list(form.lists.data or []),
    }
