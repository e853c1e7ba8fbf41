"""Send now and Schedule show who gets what first, and start only the plan that was shown:
the summary page, the confirmation, a stale confirmation, viewers, and the CLI's question."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.accounts import users
from app.campaigns import drafts
from app.extensions import db
from app.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.panel import csrf_token, flashed, login, text


@pytest.fixture()
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args, input=None: runner.invoke(args=list(args), input=input)


@pytest.fixture()
def campaign(app, monkeypatch):
    """Two lists; readers of en, uk, pl (falls back to en) and es (its variant not ready).

    The SMTP setting holds a password, which no page may show.
    """
    port = re.search(r":(\d+)\?name=main", app.config["SMTP_URL"]).group(1)
    monkeypatch.setitem(
        app.config,
        "SMTP_URL",
        f"smtp://mailer:hunter2secret@127.0.0.1:{port}?name=relay "
        f"smtp://127.0.0.1:{port}?name=dead&weight=0",
    )
    partners = make_list("partners", "Partner collectives")
    press = make_list("press", "Press contacts")
    readers = {"ann": "en", "bob": "en", "olena": "uk", "piotr": "pl", "lucia": "es"}
    for name, language in readers.items():
        make_subscriber(f"{name}@example.org", language=language, lists=[partners])
    make_subscriber("zoe@example.org", language="uk", lists=[press])
    found = make_campaign(
        {"en": "Week of action", "uk": "Тиждень дій"},
        lists=[partners, press],
        from_address="Solidarity Desk <desk@example.org>",
    )
    drafts.save_variant(found.id, "es", subject="Semana", body="Hola", ready=False)
    return found


def deliveries(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return {status.value: number for status, number in rows}


def status(campaign_id: int) -> CampaignStatus:
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).status


def row(page: str, language: str) -> str:
    return re.search(rf'<tr data-language="{language}">(.*?)</tr>', page, re.S).group(1)


def test_send_now_shows_the_summary_and_the_campaign_stays_draft_until_confirmed(client, campaign):
    summary = client.post(f"/campaigns/{campaign.id}/send", data={"not_ready": "hold"})
    assert summary.status_code == 200
    page = text(summary)
    assert re.search(r'recipients">2<.*?gets">en<', row(page, "en"), re.S)
    assert re.search(r'recipients">2<.*?gets">uk<', row(page, "uk"), re.S)
    assert re.search(r'recipients">1<.*?gets">en <small>fallback</small>', row(page, "pl"), re.S)
    assert "held back, the es variant is not ready" in row(page, "es")
    lists = re.search(r'id="confirm-lists">(.*?)</dd>', page).group(1)
    assert re.findall(r'class="tag">([^<]+)<', lists) == ["Partner collectives", "Press contacts"]
    assert "Solidarity Desk &lt;desk@example.org&gt;" in page
    assert re.search(r'id="confirm-servers">relay \(127\.0\.0\.1:\d+\)</dd>', page)
    assert "hunter2secret" not in page and "mailer" not in page
    assert re.search(r'id="confirm-total">5 messages \(1 of 6 recipients held back\)</dd>', page)
    assert "Send to 5 recipients now" in page
    assert status(campaign.id) == CampaignStatus.DRAFT
    assert deliveries(campaign.id) == {}

    sent = client.confirm(summary)
    assert "Sending to 6 recipients." in flashed(sent)
    assert status(campaign.id) != CampaignStatus.DRAFT
    assert deliveries(campaign.id).get(DeliveryStatus.SKIPPED.value) == 1
    assert sum(deliveries(campaign.id).values()) == 6


def test_a_summary_that_cannot_send_says_why_and_shows_no_confirmation(client, campaign):
    refused = client.post(f"/campaigns/{campaign.id}/send", follow_redirects=True)
    assert any("choose to hold them" in message for message in flashed(refused))
    assert "send/confirm" not in text(refused)
    assert status(campaign.id) == CampaignStatus.DRAFT


def test_a_stale_confirmation_after_a_new_subscriber_shows_the_new_summary_and_sends_nothing(
    client, campaign
):
    summary = client.post(f"/campaigns/{campaign.id}/send", data={"not_ready": "fallback"})
    assert re.search(r'recipients">2<', row(text(summary), "en"))
    make_subscriber("carla@example.org", language="en", lists=campaign.lists)

    stale = client.confirm(summary)
    assert stale.status_code == 409
    page = text(stale)
    assert "The audience or the variants changed since the summary was shown" in page
    assert re.search(r'recipients">3<', row(page, "en"))
    assert "Send to 7 recipients now" in page
    assert status(campaign.id) == CampaignStatus.DRAFT
    assert deliveries(campaign.id) == {}

    sent = client.confirm(stale)  # the new summary, confirmed
    assert "Sending to 7 recipients." in flashed(sent)
    assert sum(deliveries(campaign.id).values()) == 7


@pytest.mark.parametrize(
    "change",
    [
        lambda c: drafts.save_variant(c.id, "pl", subject="Tydzień akcji", body="Tekst"),
        lambda c: drafts.save_variant(c.id, "uk", subject="Інша тема", body="Інший текст"),
        lambda c: drafts.save_variant(c.id, "es", subject="Semana", body="Hola"),  # ready now
    ],
    ids=["a new variant", "a changed variant", "a variant made ready"],
)
def test_a_stale_confirmation_after_a_variant_changed_sends_nothing(client, campaign, change):
    summary = client.post(f"/campaigns/{campaign.id}/send", data={"not_ready": "hold"})
    change(campaign)
    stale = client.confirm(summary)
    assert stale.status_code == 409
    assert "The audience or the variants changed" in text(stale)
    assert status(campaign.id) == CampaignStatus.DRAFT
    assert deliveries(campaign.id) == {}


def test_a_forged_plan_token_sends_nothing(client, campaign):
    summary = client.post(f"/campaigns/{campaign.id}/send", data={"not_ready": "hold"})
    forged = client.confirm(summary, plan="0" * 32)
    assert forged.status_code == 409
    assert status(campaign.id) == CampaignStatus.DRAFT and deliveries(campaign.id) == {}
    missing = client.confirm(summary, plan="")
    assert status(campaign.id) == CampaignStatus.DRAFT and deliveries(campaign.id) == {}
    assert "Send now" in text(missing)  # back on the campaign page


def test_schedule_asks_first_and_a_stale_confirmation_schedules_nothing(client, campaign):
    form = {"when": "2099-06-01T09:00", "timezone": "Europe/Kyiv", "not_ready": "hold"}
    summary = client.post(f"/campaigns/{campaign.id}/schedule", data=form)
    page = text(summary)
    assert "Schedule “" in page and "2099-06-01 09:00 EEST in Europe/Kyiv" in page
    assert re.search(r'id="confirm-total">5 messages', page)
    assert status(campaign.id) == CampaignStatus.DRAFT

    make_subscriber("carla@example.org", language="en", lists=campaign.lists)
    stale = client.confirm(summary)
    assert stale.status_code == 409 and "The audience or the variants changed" in text(stale)
    assert status(campaign.id) == CampaignStatus.DRAFT

    scheduled = client.confirm(stale)
    assert "Scheduled for 2099-06-01 06:00 UTC." in flashed(scheduled)
    stored = db.session.get(Campaign, campaign.id)
    assert (stored.status, stored.schedule_timezone, stored.not_ready) == (
        CampaignStatus.SCHEDULED,
        "Europe/Kyiv",
        "hold",
    )


def test_a_viewer_cannot_reach_the_confirmation(app, campaign, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    users.create_user("viewer@example.org", "correct horse battery", "viewer")
    viewer = app.test_client()
    login(viewer, "viewer@example.org")
    token = csrf_token(viewer, f"/campaigns/{campaign.id}")
    plan = {"csrf_token": token, "not_ready": "hold", "plan": "0" * 32}
    for path in ("send", "send/confirm", "schedule", "schedule/confirm"):
        response = viewer.post(f"/campaigns/{campaign.id}/{path}", data=plan)
        assert response.status_code == 403, path
    assert status(campaign.id) == CampaignStatus.DRAFT and deliveries(campaign.id) == {}


def test_the_cli_prints_the_summary_and_asks_before_sending(cli, campaign):
    declined = cli("campaigns", "send", str(campaign.id), "--not-ready", "hold", input="n\n")
    assert declined.exit_code == 1, declined.output
    for line in (
        "en              2  get en",
        "pl              1  get en (fallback)",
        "es              1  get nothing (held back: the es variant is not ready)",
        "lists: Partner collectives, Press contacts",
        "from: Solidarity Desk <desk@example.org>",
        "total: 5 messages (1 of 6 held back)",
        "Send to 5 recipients now? [y/N]",
        "nothing was sent",
    ):
        assert line in declined.output
    assert re.search(r"SMTP server: relay \(127\.0\.0\.1:\d+\)", declined.output)
    assert "hunter2secret" not in declined.output
    assert status(campaign.id) == CampaignStatus.DRAFT and deliveries(campaign.id) == {}

    agreed = cli("campaigns", "send", str(campaign.id), "--not-ready", "hold", input="y\n")
    assert agreed.exit_code == 0 and "is sending to 6 recipients" in agreed.output
    assert sum(deliveries(campaign.id).values()) == 6


def test_the_cli_sends_without_asking_with_yes(cli, campaign):
    sent = cli("campaigns", "send", str(campaign.id), "--not-ready", "hold", "--yes")
    assert sent.exit_code == 0 and "total: 5 messages" in sent.output
    assert "[y/N]" not in sent.output and "is sending to 6 recipients" in sent.output
