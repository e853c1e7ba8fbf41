"""Panel sessions live on the server: a copied session cookie stops working once its
session ends (logout, a password change, a role change, deactivation, the idle timeout,
the absolute lifetime), and the cookie holds nothing but a random id."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import g
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from flask_login.utils import encode_cookie
from sqlalchemy import func, select

from app.accounts import users
from app.extensions import db, limiter
from app.models import User, UserRole, UserSession
from app.models.base import utcnow
from tests.support.panel import csrf_token

EMAIL = "organiser@example.org"
PASSWORD = "correct horse battery"


class Browser(FlaskClient):
    """A test client whose every request starts with nothing another request left in ``g``
    (the tests' app context outlives a request; in production each request has its own),
    so whatever a request sees comes from its own cookie, whatever the app does."""

    def open(self, *args, **kwargs):
        for name in ("_login_user", "csrf_token"):
            g.pop(name, None)
        return super().open(*args, **kwargs)


@pytest.fixture()
def owner(app):
    limiter.reset()
    saved, app.test_client_class = app.test_client_class, Browser
    user = users.create_user(EMAIL, PASSWORD, "owner")
    yield user
    app.test_client_class = saved
    limiter.reset()


def logged_in(app, email=EMAIL, password=PASSWORD, agent="Browser A"):
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def signed_in(client) -> bool:
    response = client.get("/campaigns")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    return False


def session_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(UserSession))


def post_form(client, path, data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/account")})


def test_a_copied_cookie_stops_working_after_logout(app, owner):
    browser = logged_in(app)
    thief = copy_of(app, browser)
    assert signed_in(thief)
    assert post_form(browser, "/logout", {}).headers["Location"] == "/login"
    assert not signed_in(browser)
    assert not signed_in(thief)
    assert session_rows() == 0


def test_logout_ends_only_its_own_session(app, owner):
    one, other = logged_in(app), logged_in(app, agent="Browser B")
    post_form(one, "/logout", {})
    assert not signed_in(one)
    assert signed_in(other)


def test_the_cookie_holds_only_a_random_id_whose_hash_is_stored(app, owner):
    browser = logged_in(app)
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    contents = serializer.loads(browser.get_cookie("session").value)
    session_id = contents["_user_id"]
    assert session_id != str(owner.id) and len(session_id) >= 40
    row = db.session.scalar(select(UserSession))
    assert row.token_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert row.user_id == owner.id and row.user_agent == "Browser A"
    assert session_id not in {row.token_hash, row.user_agent}


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, owner):
    here, elsewhere = logged_in(app), logged_in(app, agent="Browser B")
    thief = copy_of(app, elsewhere)
    page = here.get("/account").get_data(as_text=True)
    assert "Browser A <strong>(this one)</strong>" in page and "Browser B" in page
    response = post_form(
        here,
        "/account/password",
        {
            "current": PASSWORD,
            "new": "a new long passphrase",
            "confirmation": "a new long passphrase",
        },
    )
    assert response.status_code == 302
    assert "1 other session ended" in here.get("/account").get_data(as_text=True)
    assert signed_in(here)
    assert not signed_in(elsewhere)
    assert not signed_in(thief)
    assert session_rows() == 1
    assert users.authenticate(EMAIL, "a new long passphrase") is not None
    assert users.authenticate(EMAIL, PASSWORD) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"current": "not the password"}, "The current password is not right."),
        ({"new": "short", "confirmation": "short"}, "The password must have at least 10"),
        (
            {"confirmation": "something else entirely"},
            "The new password and its confirmation differ.",
        ),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(app, owner, fields, message):
    here, elsewhere = logged_in(app), logged_in(app, agent="Browser B")
    data = {
        "current": PASSWORD,
        "new": "a new long passphrase",
        "confirmation": "a new long passphrase",
    }
    response = post_form(here, "/account/password", {**data, **fields})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert signed_in(here) and signed_in(elsewhere)
    assert users.authenticate(EMAIL, PASSWORD) is not None


def test_a_viewer_may_change_their_own_password(app, owner):
    users.create_user("viewer@example.org", PASSWORD, "viewer")
    viewer = logged_in(app, "viewer@example.org")
    new = "viewer's new passphrase"
    response = post_form(
        viewer, "/account/password", {"current": PASSWORD, "new": new, "confirmation": new}
    )
    assert response.status_code == 302
    assert users.authenticate("viewer@example.org", new) is not None


def test_a_role_change_ends_every_session_of_that_user(app, owner, cli):
    users.create_user("editor@example.org", PASSWORD, "editor")
    editor = logged_in(app, "editor@example.org")
    thief = copy_of(app, editor)
    mine = logged_in(app)
    result = cli("users", "role", "editor@example.org", "viewer")
    assert result.exit_code == 0, result.output
    assert "now viewer" in result.output
    assert not signed_in(editor) and not signed_in(thief)
    assert signed_in(mine)  # other accounts keep theirs
    db.session.expire_all()
    assert db.session.scalar(select(User.role).where(User.email == "editor@example.org")) == (
        UserRole.VIEWER
    )


def test_deactivating_ends_every_session_and_refuses_logins_alike(app, owner, cli):
    browser = logged_in(app)
    thief = copy_of(app, browser)
    assert cli("users", "deactivate", EMAIL).exit_code == 0
    assert not signed_in(browser) and not signed_in(thief)
    assert session_rows() == 0
    client = app.test_client()
    refused = client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token(client, "/login")},
    )
    assert refused.status_code == 401
    assert "Wrong address or password." in refused.get_data(as_text=True)
    assert cli("users", "activate", EMAIL).exit_code == 0
    assert signed_in(logged_in(app))


def test_an_operator_setting_a_password_ends_every_session(app, owner, cli):
    browser = logged_in(app)
    result = cli("users", "password", EMAIL, "--password-stdin", input="set by the operator\n")
    assert result.exit_code == 0, result.output
    assert not signed_in(browser)
    assert signed_in(logged_in(app, password="set by the operator"))
    assert (
        cli("users", "password", "nobody@example.org", "--password-stdin", input="x" * 12).exit_code
        == 1
    )


def test_an_idle_session_ends(app, owner):
    browser = logged_in(app)
    row = db.session.scalar(select(UserSession))
    row.last_seen_at = utcnow() - timedelta(hours=app.config["SESSION_IDLE_HOURS"], minutes=1)
    db.session.commit()
    assert not signed_in(browser)
    assert session_rows() == 0


def test_sessions_ended_by_time_are_deleted_at_the_next_login(app, owner):
    logged_in(app), logged_in(app, agent="Browser B")
    old, recent = db.session.scalars(select(UserSession).order_by(UserSession.id)).all()
    old.last_seen_at = utcnow() - timedelta(hours=app.config["SESSION_IDLE_HOURS"], minutes=1)
    db.session.commit()
    logged_in(app, agent="Browser C")
    db.session.expire_all()
    left = db.session.scalars(select(UserSession.user_agent).order_by(UserSession.id)).all()
    assert left == ["Browser B", "Browser C"]


def test_a_session_ends_at_its_lifetime_even_when_used(app, owner):
    browser = logged_in(app)
    row = db.session.scalar(select(UserSession))
    row.created_at = utcnow() - timedelta(days=app.config["SESSION_MAX_DAYS"], minutes=1)
    row.last_seen_at = utcnow()
    db.session.commit()
    assert not signed_in(browser)


def test_last_seen_is_written_at_most_once_a_minute(app, owner):
    browser = logged_in(app)
    row = db.session.scalar(select(UserSession))
    first = row.last_seen_at
    assert signed_in(browser)
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.last_seen_at)) == first
    earlier = utcnow() - timedelta(minutes=2)
    db.session.scalar(select(UserSession)).last_seen_at = earlier
    db.session.commit()
    assert signed_in(browser)
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.last_seen_at)) > earlier + timedelta(minutes=1)


def test_a_remember_me_cookie_for_a_user_id_opens_nothing(app, owner):
    """Flask-Login's remember-me cookie is never set; a valid one, signed with the app's
    own key for the user's id, still finds no session."""
    client = app.test_client()
    with app.test_request_context():
        client.set_cookie("remember_token", encode_cookie(str(owner.id)))
    assert not signed_in(client)
    browser = logged_in(app)
    assert browser.get_cookie("remember_token") is None


def test_a_cookie_with_a_user_id_in_place_of_the_session_id_opens_nothing(app, owner):
    """The cookie of the old scheme (``_user_id`` = the user's id), signed with the app's key."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    client = app.test_client()
    client.set_cookie("session", serializer.dumps({"_user_id": str(owner.id), "_fresh": True}))
    assert not signed_in(client)


@pytest.fixture()
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return invoke
