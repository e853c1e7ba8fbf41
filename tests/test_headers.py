"""The perimeter: every page's security headers (CSP without inline script unless nonce'd,
no framing, no sniffing, no referrer from token URLs), the session cookie's flags, request
size limits with a clear 413 page (uploads keep their own larger limit), and Retry-After on
every 429."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import security
from app.accounts import users
from app.audience import lists
from app.campaigns import lifecycle
from app.extensions import limiter
from app.tokens import tokens
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.panel import Client, csrf_token

TEMPLATES = Path(__file__).resolve().parents[1] / "app" / "templates"
MB = 1 << 20


@pytest.fixture()
def owner(app):
    limiter.reset()
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    yield Client(app)
    limiter.reset()


def policy(response) -> dict[str, str]:
    """The CSP as directive -> sources."""
    directives = (d.strip() for d in response.headers["Content-Security-Policy"].split(";"))
    return {d.split(" ", 1)[0]: (d.split(" ", 1) + [""])[1] for d in directives if d}


def assert_hardened(response, *, public: bool) -> None:
    csp = policy(response)
    assert csp["frame-ancestors"] == "'none'", response.request.path
    assert "'unsafe-inline'" not in csp.get("script-src", csp.get("default-src", ""))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    expected = "no-referrer" if public else "same-origin"
    assert response.headers["Referrer-Policy"] == expected, response.request.path


def test_every_panel_page_is_hardened(app, owner):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    pages = [
        "/campaigns",
        f"/campaigns/{campaign.id}",
        "/lists",
        "/subscribers",
        "/groups",
        "/suppressions",
        "/imports",
        "/exports",
        "/account",
        "/nowhere",
    ]
    for path in pages:
        response = owner.get(path)
        assert response.status_code in (200, 404), path
        assert_hardened(response, public=False)
        if response.status_code == 200:
            assert response.headers["Cache-Control"] == "no-store"
    login_page = app.test_client().get("/login")
    assert_hardened(login_page, public=False)


def test_every_public_page_is_hardened_and_sends_no_referrer(app):
    partners = lists.create_list("actions", "Actions", visibility="public")
    reader = make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    client = app.test_client()
    pages = [
        "/s/actions",
        f"/p/{tokens().preferences(reader.uid)}",
        f"/u/{tokens().unsubscribe(reader.uid, campaign.uid)}",
        f"/c/{tokens().confirm(reader.uid, [partners.id])}",
        f"/r/{tokens().report(reader.uid, campaign.uid)}",
        "/p/not-a-token",
        "/archive/en/",
        "/s/nowhere",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 400, 404), path
        assert_hardened(response, public=True)


def test_the_archive_keeps_its_own_policy_and_cannot_be_framed(app):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners], archive=True)
    lifecycle.start_sending(campaign.id)
    response = app.test_client().get(f"/archive/{campaign.uid}/en")
    assert response.status_code == 200
    csp = policy(response)
    assert csp["default-src"] == "'none'" and csp["sandbox"].startswith("allow-popups")
    assert csp["frame-ancestors"] == "'none'"


def test_templates_have_no_inline_script_without_the_nonce_and_no_event_handlers():
    for template in TEMPLATES.rglob("*.html"):
        source = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", source):
            assert 'nonce="{{ csp_nonce() }}"' in tag, (template, tag)
        assert not re.search(r"\son[a-z]+\s*=", source), template
        assert "javascript:" not in source, template


def test_a_page_with_a_script_names_its_nonce_and_others_none(app, owner):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners], smtp_server="dead")
    lifecycle.start_sending(campaign.id)
    nonces = []
    for _ in range(2):
        response = owner.get(f"/campaigns/{campaign.id}")
        nonce = re.search(r"'nonce-([^']+)'", policy(response)["script-src"]).group(1)
        assert f'<script nonce="{nonce}">' in response.get_data(as_text=True)
        nonces.append(nonce)
    assert nonces[0] != nonces[1]  # a new one each response
    assert policy(owner.get("/lists"))["script-src"] == "'self'"


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_over_https(app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={
            "email": "organiser@example.org",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    cookie = response.headers["Set-Cookie"]
    assert app.config["BASE_URL"].startswith("https://")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "remember_token" not in str(response.headers)
    plain = Flask("plain")
    plain.config["BASE_URL"] = "http://127.0.0.1:5000"
    security.init_app(plain)
    assert plain.config["SESSION_COOKIE_SECURE"] is False
    assert plain.config["SESSION_COOKIE_SAMESITE"] == "Lax"


# Request sizes


def test_a_too_large_public_form_gets_a_translated_413(app):
    lists.create_list("actions", "Actions", visibility="public")
    response = app.test_client().post(
        "/s/actions",
        data={"email": "ann@example.org", "name": "x" * (2 * MB)},
        headers={"Accept-Language": "uk"},
    )
    assert response.status_code == 413
    assert "Забагато за один раз" in response.get_data(as_text=True)
    assert_hardened(response, public=True)


def test_a_too_large_login_gets_the_panels_413(app):
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "a@example.org", "password": "p" * (2 * MB), "csrf_token": token},
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Too large" in page and "(1 MB)" in page


def upload(client: Client, path: str, fields: dict, name: str, content: bytes):
    """POST a multipart form built in memory (the test client would spool a large one to a
    temporary file it never closes)."""
    boundary, body = encode_multipart(
        {**fields, "csrf_token": client.token, "file": FileStorage(io.BytesIO(content), name)}
    )
    return client.http.post(
        path, data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def csv_upload(size: int) -> bytes:
    """A CSV file of about ``size`` bytes."""
    row = "person{n}@example.org,Person number {n} with a long enough name\n"
    count = size // len(row.format(n=10_000)) + 1
    return ("email,name\n" + "".join(row.format(n=n) for n in range(count))).encode()


def test_a_large_csv_is_still_accepted_by_an_organiser(app, owner):
    partners = make_list()
    fields = {"list_id": partners.id, "mode": "subscribe"}
    response = upload(owner, "/imports", fields, "people.csv", csv_upload(3 * MB))
    assert response.status_code == 302 and "/mapping" in response.headers["Location"]


def test_uploads_have_their_own_limit_and_strangers_get_none(app, owner):
    partners = make_list()
    content = csv_upload(3 * MB)
    fields = {"list_id": partners.id, "mode": "subscribe"}
    stranger = Client.__new__(Client)
    stranger.http, stranger.token = app.test_client(), ""
    assert upload(stranger, "/imports", fields, "people.csv", content).status_code == 413
    saved = app.config["IMPORT_MAX_BYTES"]
    app.config["IMPORT_MAX_BYTES"] = 2 * MB
    try:
        response = upload(owner, "/imports", fields, "people.csv", content)
    finally:
        app.config["IMPORT_MAX_BYTES"] = saved
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "(2 MB)" in page and "tocsin subscribers import" in page


def test_a_campaign_file_has_its_own_limit(app, owner):
    too_big = upload(owner, "/campaigns/import", {}, "campaign.toml", b"#" * (5 * MB))
    assert too_big.status_code == 413
    fits = upload(owner, "/campaigns/import", {}, "campaign.toml", b"#" * (2 * MB - 100))
    assert fits.status_code == 302  # read, and refused for what it holds, not its size


# Retry-After


@pytest.fixture()
def signup(app):
    limiter.reset()
    saved = {k: app.config[k] for k in ("SUBSCRIBE_MIN_SECONDS", "SUBSCRIBE_IP_LIMIT")}
    app.config.update(SUBSCRIBE_MIN_SECONDS=0.0)
    yield lists.create_list("actions", "Actions", visibility="public")
    app.config.update(saved)
    limiter.reset()


def sign_up(client, email, ip):
    page = client.get("/s/actions").get_data(as_text=True)
    started = re.search(r'name="started" value="([^"]+)"', page).group(1)
    return client.post(
        "/s/actions",
        data={"email": email, "name": "", "language": "", "started": started},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_the_sign_up_limit_per_client_answers_with_retry_after(app, signup):
    app.config["SUBSCRIBE_IP_LIMIT"] = "2 per hour"
    client = app.test_client()
    assert [sign_up(client, f"p{n}@example.org", "198.51.100.7").status_code for n in range(2)] == [
        200,
        200,
    ]
    refused = sign_up(client, "p9@example.org", "198.51.100.7")
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3601
    assert_hardened(refused, public=True)


def test_the_sign_up_limit_per_address_answers_with_retry_after(app, signup):
    app.config["SUBSCRIBE_IP_LIMIT"] = "1000 per hour"
    client = app.test_client()
    for n in range(5):
        assert sign_up(client, "same@example.org", f"198.51.100.{n + 1}").status_code == 200
    refused = sign_up(client, "same@example.org", "203.0.113.1")
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3601
