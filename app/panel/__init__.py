"""The organisers' panel: every page needs a login; changes need an editor or owner."""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db, login_manager
from app.models import User
from app.panel.forms import ActionForm, LoginForm

blueprint = Blueprint("panel", __name__)
PUBLIC_ENDPOINTS = {"panel.login"}

login_manager.login_view = "panel.login"
login_manager.login_message = "Please log in."


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


@blueprint.before_request
def _require_login() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if (
        request.method == "POST"
        and request.endpoint != "panel.logout"
        and not current_user.can_edit
    ):
        abort(403)
    return None


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the login form and log the organiser in."""
    from app.services import accounts

    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(url_for("panel.campaigns"))
        flash("Wrong address or password.", "error")
    return render_template("panel/login.html", form=form), 200 if request.method == "GET" else 401


@blueprint.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    """Log out."""
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("panel.login"))


@blueprint.app_template_filter("local_time")
def local_time(value: datetime | None, zone: str | None = None) -> str:
    """Show a stored UTC time in a zone: the organiser's own unless one is named."""
    if value is None:
        return "–"
    name = zone or getattr(current_user, "timezone", None) or "UTC"
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


@blueprint.context_processor
def _time_zones() -> dict[str, object]:
    return {"common_zones": _zones()}


@functools.cache
def _zones() -> list[str]:
    return sorted(available_timezones())


@blueprint.get("/")
def home() -> ResponseReturnValue:
    """The panel starts at the campaigns."""
    return redirect(url_for("panel.campaigns"))


from app.panel import (  # noqa: E402,F401  (registers the routes)
    account,
    audience,
    campaigns,
    catcher,
    groups,
    imports,
    layouts,
    reports,
    signup,
    suppressions,
)
