"""The organiser's own settings."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.errors import TocsinError
from app.panel import blueprint
from app.panel.forms import AccountForm
from app.services import accounts


@blueprint.route("/account", methods=["GET", "POST"])
def account() -> ResponseReturnValue:
    """Set the time zone the panel shows times in."""
    form = AccountForm(timezone=current_user.timezone)
    if form.validate_on_submit():
        try:
            accounts.set_timezone(current_user, form.timezone.data or "")
        except TocsinError as exc:
            flash(str(exc), "error")
        else:
            flash("Saved.", "info")
            return redirect(url_for("panel.account"))
    return render_template("panel/account.html", form=form)
