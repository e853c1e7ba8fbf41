"""The organisers' panel: every page needs a login; changes need an editor or owner.

One module per area (campaigns, audience, groups, imports, layouts, suppressions, reports,
account, catcher); views are thin over the domain packages, which they may all import,
with the platform modules. Never imports ``app.public`` or ``worker``.
"""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import HTTPException

from app.audience import filters
from app.extensions import login_manager
from app.models import User
from app.panel import privacy
from app.panel.forms import ActionForm, LoginForm

blueprint = Blueprint("panel", __name__)
PUBLIC_ENDPOINTS = {"panel.login"}
# What any organiser may post, viewers too: leaving, and their own account.
OWN_ENDPOINTS = {"panel.logout", "panel.account", "panel.account_password"}
# Flask-Login keeps what the user loader receives under this key of the session cookie.
SESSION_KEY = "_user_id"

login_manager.login_view = "panel.login"
login_manager.login_message = "Please log in."


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The session cookie holds a server-side session's random id, never a user id: a
    request is signed in only while that session exists (``users.user_for_session``).
    Flask-Login's remember-me cookie is never set; one forged from a user id finds no
    session."""
    from app.accounts import users

    return users.user_for_session(session_id)


@blueprint.before_request
def _require_login() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if (
        request.method == "POST"
        and request.endpoint not in OWN_ENDPOINTS
        and not current_user.can_edit
    ):
        abort(403)
    return None


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the login form and log the organiser in. Every refusal is the same page, status
    and headers whoever the address is; too many failures lock the login for a while
    (``logins.attempt``)."""
    from app.accounts import logins, users

    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("panel/login.html", form=form), (
            200 if request.method == "GET" else 401
        )
    outcome = logins.attempt(form.email.data or "", form.password.data or "", request.remote_addr)
    if outcome.retry_after:
        page = render_template(
            "panel/login.html",
            form=form,
            error=f"Too many failed logins. Try again in {_duration(outcome.retry_after)}.",
        )
        return page, 429, {"Retry-After": str(outcome.retry_after)}
    if outcome.user is None:
        return render_template(
            "panel/login.html", form=form, error="Wrong address or password."
        ), 401
    # Nothing from before the login carries over, the CSRF token included.
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    token = users.start_session(outcome.user, request.user_agent.string)
    login_user(outcome.user)
    session[SESSION_KEY] = token  # instead of the user id Flask-Login put there
    return redirect(url_for("panel.campaigns"))


def _duration(seconds: int) -> str:
    """A wait in words, to the nearest minute or (from two hours) hour."""
    minutes = max(1, round(seconds / 60))
    if minutes < 2:
        return "a minute"
    return f"{minutes} minutes" if minutes < 120 else f"{round(minutes / 60)} hours"


@blueprint.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    """Log out: this session ends on the server too, so a copy of its cookie opens nothing."""
    from app.accounts import users

    if ActionForm().validate_on_submit():
        users.end_session(session.get(SESSION_KEY))
        logout_user()
    return redirect(url_for("panel.login"))


@blueprint.errorhandler(413)
def _too_large(_error: Exception) -> ResponseReturnValue:
    """The panel's page for a request body over its limit (``app.security``)."""
    limit = request.max_content_length or 0
    if request.is_json:  # the editor's live preview reads the answer, not a page
        size = f"{request.content_length:,} bytes" if request.content_length else "this"
        message = f"{size} is over the limit of {limit:,} bytes; nothing was read or changed"
        return jsonify(error={"message": message, "line": None, "part": "body"}), 413
    shown = f"{limit / (1 << 30):g} GB" if limit >= 1 << 30 else f"{limit / (1 << 20):g} MB"
    endpoint = request.endpoint or ""
    back = url_for(endpoint) if endpoint in ("panel.login", "panel.imports_page") else "/"
    return render_template(
        "panel/too_large.html",
        limit=shown,
        upload=endpoint == "panel.imports_page",
        back=back,
    ), 413


PANEL_ERRORS = {
    404: ("Page not found", "There is nothing at this address. The link may be old or mistyped."),
    405: ("Not allowed", "This page cannot be used that way."),
    500: (
        "Something went wrong",
        "An error stopped this page; it has been logged. Nothing more was changed. "
        "Please try again, or go back.",
    ),
}


@blueprint.errorhandler(404)
@blueprint.errorhandler(405)
@blueprint.errorhandler(500)
def error_page(error: HTTPException) -> ResponseReturnValue:
    """The panel's page for an error: its title, what to do, a way back; never a traceback
    (an unexpected exception reaches here as a plain 500, already logged by Flask)."""
    code = error.code or 500
    title, text = PANEL_ERRORS.get(code, PANEL_ERRORS[500])
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    page = render_template("panel/error.html", code=code, title=title, text=text)
    return page, code, headers


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


# Who sees addresses and names is decided in app.panel.privacy, nowhere else.
blueprint.add_app_template_filter(privacy.shown_address, "address")
blueprint.add_app_template_filter(privacy.shown_name, "person_name")
blueprint.add_app_template_filter(privacy.addresses_masked, "addresses_in")
blueprint.add_app_template_global(privacy.sees_people, "sees_people")
blueprint.add_app_template_global(filters.country_of, "country_of")


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
    editor,
    groups,
    imports,
    layouts,
    reports,
    returns,
    signup,
    suppressions,
)
