"""A test send's row on the campaign page follows the worker: queued, then what the server
said, without reloading the page; viewers see the addresses in it masked."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.accounts import users
from app.extensions import db
from app.models import OutboxKind, OutboxMessage, OutboxStatus
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.factories import make_campaign
from tests.support.panel import login

REFUSAL = "550 5.1.1 <gone@example.org>: no such user"


def refused_test_send():
    """A campaign with one test send that the server refused, quoting the address."""
    campaign = make_campaign({"en": "Week of action"})
    row = OutboxMessage(  # settled when written: no running worker takes it
        kind=OutboxKind.TEST,
        to_address="gone@example.org",
        language="en",
        campaign_id=campaign.id,
        status=OutboxStatus.FAILED,
        reply=REFUSAL,
    )
    db.session.add(row)
    db.session.commit()
    return campaign, row


def client_for(app, role: str):
    email = f"{role}@example.org"
    users.create_user(email, "correct horse battery", role)
    client = app.test_client()
    login(client, email)
    return client


def test_the_test_sends_json_has_each_rows_status_and_reply(app):
    campaign, row = refused_test_send()
    answer = client_for(app, "editor").get(f"/campaigns/{campaign.id}/test-sends.json")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json == {
        "test_sends": [
            {
                "id": row.id,
                "to": "gone@example.org",
                "language": "en",
                "status": "failed",
                "reply": REFUSAL,
            }
        ]
    }


def test_viewers_get_the_addresses_in_it_masked(app):
    campaign, _row = refused_test_send()
    answer = client_for(app, "viewer").get(f"/campaigns/{campaign.id}/test-sends.json")
    [shown] = answer.json["test_sends"]
    assert shown["to"] == "•••@example.org"
    assert shown["reply"] == "550 5.1.1 <•••@example.org>: no such user"
    assert "gone@" not in answer.get_data(as_text=True)


def test_another_campaigns_or_a_missing_one_answers_404(app):
    client = client_for(app, "editor")
    assert client.get("/campaigns/999999/test-sends.json").status_code == 404


def test_the_page_loads_its_script_from_a_file_not_inline(app):
    campaign, _row = refused_test_send()
    page_html = client_for(app, "editor").get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.search(r'<script nonce="[^"]+" src="/static/test_sends\.js"', page_html)
    assert f'data-poll="/campaigns/{campaign.id}/test-sends.json"' in page_html


@pytest.mark.slow
def test_a_test_sends_row_turns_from_queued_to_sent_without_a_reload(page: Page, smtp, run_worker):
    campaign = make_campaign({"en": "Week of action"})
    users.create_user(EMAIL, PASSWORD, "owner")
    smtp.delay = 3  # the server answers the message late: the page sees it waiting first
    log_in(page)
    page.goto(f"/campaigns/{campaign.id}")
    page.get_by_label("Send a test to").fill("ann@example.org")
    page.get_by_role("button", name="Send test").click()
    row = page.locator("#test-sends tbody tr", has_text="ann@example.org")
    status, reply = row.locator("td").nth(2), row.locator("td").nth(3)
    expect(status).to_have_text(re.compile("^(queued|claimed)$"))
    page.evaluate("window.stillTheSamePage = true")
    expect(status).to_have_text("sent", timeout=60_000)
    expect(reply).to_have_text(re.compile(r"^250 2\.0\.0 Message accepted"))
    assert page.evaluate("window.stillTheSamePage") is True
