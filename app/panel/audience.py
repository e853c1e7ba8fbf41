"""Panel pages for lists and subscribers."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.errors import TocsinError
from app.extensions import db
from app.models import Group, MailingList, Subscriber, Subscription
from app.panel import blueprint
from app.panel.forms import ListForm, SubscriberForm, choices
from app.services import lists as list_service
from app.services import subscribers as subscriber_service

PAGE = 50


@blueprint.route("/lists", methods=["GET", "POST"])
def lists() -> ResponseReturnValue:
    """All lists with their sizes, and a form to create one."""
    form = ListForm()
    if form.validate_on_submit():
        try:
            created = list_service.create_list(
                form.slug.data or "",
                form.name.data or "",
                description=form.description.data or "",
                visibility=form.visibility.data or "private",
                optin=form.optin.data or "double",
            )
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Created the list {created.name}.", "info")
            return redirect(url_for("panel.lists"))
    return render_template("panel/lists.html", rows=list_service.lists_with_counts(), form=form)


@blueprint.route("/subscribers", methods=["GET", "POST"])
def subscribers() -> ResponseReturnValue:
    """Subscribers by address prefix or list, a page at a time, and a form to add one."""
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
            flash(f"Added {added.email}.", "info")
            return redirect(url_for("panel.subscribers", q=added.email))
    query = request.args.get("q", "").strip().lower()
    list_id = request.args.get("list", type=int)
    after = request.args.get("after", "")
    statement = select(Subscriber).order_by(Subscriber.email).limit(PAGE)
    if query:
        statement = statement.where(Subscriber.email >= query, Subscriber.email < query + "\uffff")
    if after:
        statement = statement.where(Subscriber.email > after)
    if list_id:
        statement = statement.where(
            Subscriber.id.in_(
                select(Subscription.subscriber_id).where(Subscription.list_id == list_id)
            )
        )
    rows = db.session.scalars(statement).all()
    return render_template(
        "panel/subscribers.html",
        rows=rows,
        form=form,
        q=query,
        list_id=list_id,
        next_after=rows[-1].email if len(rows) == PAGE else None,
    )


def _subscriber_form() -> SubscriberForm:
    form = SubscriberForm()
    form.lists.choices = choices([(m.id, m.name) for m, _n in list_service.lists_with_counts()])
    form.group.choices = choices(
        [(0, "—")]
        + [(g.id, g.name) for g in db.session.scalars(select(Group).order_by(Group.name))]
    )
    return form
