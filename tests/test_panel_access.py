"""Every panel page needs a login; every form needs its CSRF token; viewers only look."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.accounts import users
from app.extensions import db
from app.models import MailingList
from tests.support.panel import csrf_token, login


@pytest.fixture()
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def panel_rules(app):
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("panel.") and r.endpoint != "panel.login"
    ]


def test_every_panel_page_requires_login(app):
    client = app.test_client()
    rules = panel_rules(app)
    assert len(rules) >= 10
    for rule in rules:
        values = {
            "action": "pause",
            "key": "x",
            "language": "en",
            "fmt": "toml",
            "status": "approved",
        }
        path = rule.build({arg: values.get(arg, 1) for arg in rule.arguments})[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method)
            assert response.status_code in (302, 400), (rule, method)
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/login"), (rule, method)


def test_login_with_the_right_password_opens_the_panel(csrf_app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = csrf_app.test_client()
    assert login(client).headers["Location"] == "/campaigns"
    assert client.get("/campaigns").status_code == 200


def test_wrong_password_is_refused(csrf_app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = csrf_app.test_client()
    response = login(client, password="wrong password!")
    assert response.status_code == 401
    assert "Wrong address or password." in response.get_data(as_text=True)
    assert client.get("/campaigns").status_code == 302


def test_post_without_csrf_token_is_rejected(csrf_app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = csrf_app.test_client()
    login(client)
    response = client.post(
        "/lists", data={"slug": "x", "name": "X", "visibility": "private", "optin": "double"}
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(MailingList)) == 0


def test_login_form_without_csrf_token_is_rejected(csrf_app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    response = csrf_app.test_client().post(
        "/login", data={"email": "organiser@example.org", "password": "correct horse battery"}
    )
    assert response.status_code == 400


def test_viewer_can_look_but_not_change(csrf_app):
    users.create_user("viewer@example.org", "correct horse battery", "viewer")
    client = csrf_app.test_client()
    login(client, "viewer@example.org")
    assert client.get("/lists").status_code == 200
    token = csrf_token(client, "/lists")
    assert client.post("/lists", data={"csrf_token": token}).status_code == 403


def test_campaign_page_pauses_resumes_and_cancels(csrf_app):
    from datetime import timedelta

    from app.campaigns import drafts, lifecycle
    from app.delivery import ledger
    from app.models import Campaign, CampaignStatus
    from app.models.base import utcnow
    from tests.support.factories import make_list, make_subscriber

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    partners = make_list("partners", "Partners")
    make_subscriber("ann@example.org", lists=[partners])
    # Pinned to a server nobody answers: a running worker cannot finish it under the test.
    campaign_id = drafts.create_campaign("Call", lists=[partners], smtp_server="dead").id
    drafts.save_variant(campaign_id, "en", subject="Week of action", body="Join us")
    lifecycle.start_sending(campaign_id)
    client = csrf_app.test_client()
    login(client)
    page = f"/campaigns/{campaign_id}"
    for action, status in (("pause", "paused"), ("resume", "sending"), ("cancel", "cancelled")):
        token = csrf_token(client, page)
        assert f'id="{action}"' in client.get(page).get_data(as_text=True)
        response = client.post(f"{page}/{action}", data={"csrf_token": token})
        assert response.status_code == 302
        db.session.expire_all()
        assert db.session.get(Campaign, campaign_id).status == CampaignStatus(status)
    refused = client.post(
        f"{page}/resume", data={"csrf_token": csrf_token(client, page)}, follow_redirects=True
    )
    assert "cannot become sending" in refused.get_data(as_text=True)
    progress = client.get(f"{page}/progress.json").get_json()
    assert progress["status"] == "cancelled"
    # A worker may still hold the row: once given back, the dispatcher skips it.
    ledger.dispatch(utcnow() + timedelta(seconds=60))
    progress = client.get(f"{page}/progress.json").get_json()
    assert progress["remaining"] == 0 and progress["counts"]["skipped"] == 1
