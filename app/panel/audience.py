"""Panel pages for lists and subscribers: search, bulk actions, one subscriber's page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypedDict

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from app.audience import bounce_log, bulk, counts, groups, records, suppressions
from app.audience import lists as list_service
from app.audience import subscribers as subscriber_service
from app.audience.bulk import DESTRUCTIVE, BulkAction, BulkTarget, Deleted, Selection
from app.audience.filters import NO_GROUP, STATUSES, SubscriberFilter
from app.errors import InvalidInput, Malformed, NotFound, TocsinError
from app.extensions import db
from app.languages import NAMES, confusion, is_registered, unknown_tag_message
from app.models import Group, MailingList, Subscriber
from app.panel import blueprint, privacy
from app.panel.forms import (
    BULK_LABELS,
    BulkForm,
    ListForm,
    ListSettingsForm,
    SubscriberEditForm,
    SubscriberForm,
    choices,
    error_at_field,
    flash_language_notes,
    show_error,
)


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
            show_error(form, exc)
        else:
            flash(f"Created the list {created.name}.", "info")
            flash_language_notes(created.default_language)
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
    """A list's settings: name, description (also per language), visibility, opt-in,
    default language."""
    try:
        mailing_list = list_service.get(list_id)
    except NotFound:
        abort(404)
    form = ListSettingsForm(obj=mailing_list)
    del form.slug  # the slug stays: links and commands name the list by it
    if request.method == "GET":
        form.visibility.data = mailing_list.visibility.value
        form.optin.data = mailing_list.optin.value
        for tag, written in (mailing_list.translations or {}).items():
            form.wordings.append_entry({"language": tag, **written})
        form.wordings.append_entry()
    if form.validate_on_submit():
        rows = [
            (
                row.form.language.data or "",
                row.form.name.data or "",
                row.form.description.data or "",
            )
            for row in form.wordings
        ]
        try:
            list_service.update_list(
                list_id, form.name.data or "", translations=rows, **_list_settings(form)
            )
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash(f"Saved the list {mailing_list.name}.", "info")
            flash_language_notes(form.default_language.data or "")
            return redirect(url_for("panel.lists"))
    return render_template("panel/list_settings.html", mailing_list=mailing_list, form=form)


def _filter_from(args: MultiDict[str, str]) -> tuple[SubscriberFilter, dict[str, InvalidInput]]:
    """The filter in the request, and what was refused in it by field: a bad field is left
    out (the problem is flashed and shown at the field, which keeps what was typed); the
    rest apply."""
    refused: dict[str, InvalidInput] = {}
    left = args.copy()
    while True:
        try:
            found = SubscriberFilter.from_args(left)
            break
        except InvalidInput as exc:
            if not exc.field or exc.field not in left:
                flash(f"Filter not applied: {exc}.", "error")
                found = SubscriberFilter()
                break
            refused[exc.field] = exc
            del left[exc.field]
    for problem in refused.values():
        flash(f"Filter not applied: {problem}; the other filters are.", "error")
    # Still applied (tags stored before they were checked stay findable), with a hint.
    if found.language and not is_registered(found.language):
        flash(unknown_tag_message(found.language), "warning")
    return found, refused


@blueprint.route("/subscribers", methods=["GET", "POST"])
def subscribers() -> ResponseReturnValue:
    """Subscribers by prefix and filters, a keyset page at a time, with bulk actions."""
    form = _subscriber_form()
    existing = None
    if form.validate_on_submit():
        try:
            added = subscriber_service.add_new_subscriber(
                form.email.data or "",
                name=form.name.data or "",
                language=form.language.data or "",
                lists=[db.session.get(MailingList, i) for i in form.lists.data or []],
                group=db.session.get(Group, form.group.data) if form.group.data else None,
            )
        except subscriber_service.AlreadySubscriber as exc:
            existing = exc.subscriber  # the page links to them; nothing is changed
        except TocsinError as exc:
            _error_at_field(form, exc)
        else:
            counts.invalidate()
            flash(f"Added {added.email}.", "info")
            flash_language_notes(added.language)
            return redirect(url_for("panel.subscribers", q=added.email))
    found, refused = _filter_from(request.args)
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
        existing=existing,
        filter_errors=refused,
        **_choices(),
        bulk=_bulk_form(found),
    )


def _choices() -> dict[str, object]:
    return {
        "all_lists": list_service.all_lists(),
        "all_groups": groups.all_groups(),
        "statuses": STATUSES,
    }


def _error_at_field(form: SubscriberForm, exc: TocsinError) -> None:
    """Show a service's refusal beside the field it is about (the address when it names none)."""
    if not error_at_field(form, exc):
        form.email.errors = [*form.email.errors, str(exc)]


def _subscriber_form() -> SubscriberForm:
    form = SubscriberForm()
    form.lists.choices = choices([(m.id, m.name) for m in list_service.all_lists()])
    form.group.choices = choices([(0, "—")] + [(g.id, g.name) for g in groups.all_groups()])
    return form


@blueprint.post("/subscribers/bulk")
def subscribers_bulk() -> ResponseReturnValue:
    """Run a bulk action on the checked subscribers or the whole filter; big or destructive
    ones are confirmed first on a page that names the action, its target and the exact count.

    Who is read from the ``filter-…`` fields (and ``ids``), what from the ``action-…`` ones:
    a filter's list is never the list an action adds to or removes from."""
    form = BulkForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash(f"Nothing changed: {_first_error(form)}.", "error")
        return redirect(url_for("panel.subscribers"))
    if bare := sorted(BulkForm.BARE_NAMES & set(request.form)):
        flash(
            "Nothing changed: the form came from an older page (it sent "
            f"{', '.join(bare)}); reload the subscribers page and choose again.",
            "error",
        )
        return redirect(url_for("panel.subscribers"))
    try:
        # Strict, unlike the page: a bad filter must never widen "all matching" to everyone.
        found = SubscriberFilter.from_args(form.filter.data)
    except InvalidInput as exc:
        flash(f"Nothing changed: {exc}.", "error")
        return redirect(url_for("panel.subscribers"))
    shown: dict[str, Any] = found.to_args()  # to mypy a key might be url_for's _external
    back = url_for("panel.subscribers", **shown)
    whole = form.scope.data == "all"
    try:
        target = BulkTarget.of(
            form.action.kind.data or "",
            list_id=form.action.list.data,
            language=form.action.language.data or "",
        )
        selection = Selection(filter=found) if whole else Selection(_ids(request.form))
        if (whole or target.action in DESTRUCTIVE) and not form.confirmed.data:
            return _confirm_bulk(target, selection, found)
        done = bulk.apply(target, selection)
    except TocsinError as exc:
        flash(str(exc), "error")
        return redirect(back)
    flash(_bulk_message(target, done), "info")
    flash_language_notes(target.language)
    return redirect(back)


def _first_error(form: BulkForm) -> str:
    for field in (form.action.language, form.action.list, form.action.kind, form.scope):
        if field.errors:
            return f"{field.label.text}: {field.errors[0]}"
    return "the form is not complete"


def _ids(form: MultiDict[str, str]) -> tuple[int, ...]:
    try:
        return tuple(int(i) for i in form.getlist("ids"))
    except ValueError:
        raise Malformed(
            "ids",
            form.getlist("ids"),
            "subscriber ids",
            message="the selection holds something that is not a subscriber id",
        ) from None


def _bulk_form(found: SubscriberFilter) -> BulkForm:
    """The page's bulk form: the filter shown, in its own ``filter-…`` fields."""
    form = BulkForm(formdata=None, filter=found.to_args())
    form.action.form.list.choices = choices(
        [("", "list…")] + [(str(m.id), m.name) for m in list_service.all_lists()]
    )
    return form


def _what(target: BulkTarget) -> str:
    """The action and its target in words: "Remove from the list Supporters"."""
    if target.action == BulkAction.ADD_TO_LIST:
        return f"Add to the list {target.list_name()}"
    if target.action == BulkAction.REMOVE_FROM_LIST:
        return f"Remove from the list {target.list_name()}"
    if target.action == BulkAction.CHANGE_LANGUAGE:
        return f"Change the language to {target.language}"
    return BULK_LABELS[target.action]


def filter_in_words(f: SubscriberFilter) -> str:
    """The filter as a sentence's end: "on the list Partners, language uk"."""
    parts: list[str] = []
    if f.query:
        if f.by == "name":
            parts.append(f"name or group contains “{f.query}”")
        else:
            parts.append(f"address starts with “{f.query}”")
    if f.list_id is not None:
        mailing_list = db.session.get(MailingList, f.list_id)
        parts.append(f"on the list {mailing_list.name if mailing_list else f.list_id}")
    if f.language:
        parts.append(f"language {f.language}")
    if f.country:
        parts.append(f"country {f.country}")
    if f.group_id == NO_GROUP:
        parts.append("in no group")
    elif f.group_id is not None:
        group = db.session.get(Group, f.group_id)
        parts.append(f"in the group {group.name if group else f.group_id}")
    if f.status:
        parts.append(f"status {f.status}")
    return ", ".join(parts)


def _confirm_bulk(
    target: BulkTarget, selection: Selection, found: SubscriberFilter
) -> ResponseReturnValue:
    confirm = BulkForm(
        formdata=None,
        scope="selected" if selection.ids else "all",
        filter=found.to_args(),
        action={
            "kind": target.action.value,
            "list": str(target.list_id or ""),
            "language": target.language,
        },
        confirmed="1",
    )
    return render_template(
        "panel/bulk_confirm.html",
        target=target,
        label=BULK_LABELS[target.action],
        what=_what(target),
        list_name=target.list_name(),
        language_name=NAMES.get(target.language, ""),
        language_note=confusion(target.language) if target.language else "",
        count=selection.count(),
        ids=selection.ids,
        whole=not selection.ids,
        f=found,
        filter_words=filter_in_words(found),
        confirm=confirm,
    )


def _bulk_message(target: BulkTarget, done: int | Deleted) -> str:
    if isinstance(done, Deleted):
        return (
            f"Deleted {done.deleted}; {done.anonymised} who were in a campaign's ledger "
            "were anonymised instead."
        )
    return {
        BulkAction.ADD_TO_LIST: f"Added {done} to {target.list_name()}.",
        BulkAction.REMOVE_FROM_LIST: f"Removed {done} from {target.list_name()}.",
        BulkAction.CHANGE_LANGUAGE: f"Changed the language of {done} to {target.language}.",
        BulkAction.BLOCKLIST: f"Blocklisted {done}; their addresses are suppressed.",
    }[target.action]


@blueprint.route("/subscribers/<int:subscriber_id>", methods=["GET", "POST"])
def subscriber(subscriber_id: int) -> ResponseReturnValue:
    """One subscriber: edit every field and their lists; what they received and reported."""
    try:
        found = records.get(subscriber_id)
    except NotFound:
        abort(404)
    form = _edit_form(found)
    if form.validate_on_submit():
        try:
            records.update_subscriber(subscriber_id, **_edit_values(form))
        except TocsinError as exc:
            db.session.rollback()
            show_error(form, exc)
        else:
            flash("Saved.", "info")
            flash_language_notes(form.language.data or "")
            return redirect(url_for("panel.subscriber", subscriber_id=subscriber_id))
    return render_template(
        "panel/subscriber.html",
        s=found,
        form=form,
        history=records.history(subscriber_id),
        check=suppressions.check_address(found.email),
        returned=bounce_log.of_subscriber(subscriber_id),
    )


def _edit_form(found: Subscriber) -> SubscriberEditForm:
    form = SubscriberEditForm(obj=found) if request.method == "GET" else SubscriberEditForm()
    form.group.choices = choices([(0, "—")] + [(g.id, g.name) for g in groups.all_groups()])
    form.lists.choices = choices([(m.id, m.name) for m in list_service.all_lists()])
    if request.method == "GET":
        form.group.data = found.group_id or 0
        form.status.data = found.status.value
        form.attributes.data = records.attributes_text(found)
        form.lists.data = records.current_list_ids(found.id)
    return form


class _SubscriberEdit(TypedDict):
    email: str
    name: str
    language: str
    country: str
    group_id: int | None
    status: str
    attributes: str
    list_ids: list[int]


def _edit_values(form: SubscriberEditForm) -> _SubscriberEdit:
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
