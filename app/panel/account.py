"""The organiser's own settings: time zone, password, and the sessions signed in."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.accounts import users
from app.errors import InvalidInput, TocsinError
from app.panel import SESSION_KEY, blueprint
from app.panel.forms import AccountForm, PasswordForm, show_error


def _page(form: AccountForm, password_form: PasswordForm, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "panel/account.html",
        form=form,
        password_form=password_form,
        sessions=users.sessions_of(current_user),
        this_session=users.session_hash(session.get(SESSION_KEY, "")),
    ), status


@blueprint.route("/account", methods=["GET", "POST"])
def account() -> ResponseReturnValue:
    """Set the time zone the panel shows times in."""
    form = AccountForm(timezone=current_user.timezone)
    if form.validate_on_submit():
        try:
            users.set_timezone(current_user, form.timezone.data or "")
        except TocsinError as exc:
            show_error(form, exc)
        else:
            flash("Saved.", "info")
            return redirect(url_for("panel.account"))
    return _page(form, PasswordForm(formdata=None))


@blueprint.post("/account/password")
def account_password() -> ResponseReturnValue:
    """Change one's own password; every other session of the account ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            ended = users.change_password(
                current_user,
                form.current.data or "",
                form.new.data or "",
                form.confirmation.data or "",
                keep=session.get(SESSION_KEY),
            )
        except InvalidInput as exc:
            getattr(form, exc.field or "new").errors = [str(exc).capitalize() + "."]
        else:
            others = (
                f"{ended} other session{'' if ended == 1 else 's'}" if ended else "no other session"
            )
            flash(f"Password changed; {others} ended.", "info")
            return redirect(url_for("panel.account"))
    return _page(AccountForm(timezone=current_user.timezone, formdata=None), form, 422)
