"""Send now in a real browser: the summary of who gets what, then the confirmation."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.accounts import users
from app.extensions import db
from app.models import Campaign, CampaignStatus, Delivery, Subscriber
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.factories import make_campaign, make_list, make_subscriber

pytestmark = pytest.mark.slow


def test_organiser_sees_who_gets_what_and_confirms_the_send(app: Flask, page: Page) -> None:
    users.create_user(EMAIL, PASSWORD, "owner")
    partners = make_list("partners", "Partner collectives")
    press = make_list("press", "Press contacts")
    for address, language, where in [
        ("ann@example.org", "en", partners),
        ("bob@example.org", "en", press),
        ("olena@example.org", "uk", partners),
        ("piotr@example.org", "pl", partners),
    ]:
        make_subscriber(address, language=language, lists=[where])
    # Pinned to the server nobody answers, so a worker running meanwhile cannot finish it.
    campaign = make_campaign(
        {"en": "Week of action", "uk": "Тиждень дій"},
        lists=[partners, press],
        from_address="Solidarity Desk <desk@example.org>",
        smtp_server="dead",
    )
    log_in(page)
    page.goto(f"/campaigns/{campaign.id}")
    page.get_by_role("button", name="Send now").click()

    expect(page.locator("h1")).to_have_text(f"Send “{campaign.name}” to 4 recipients?")
    rows = page.locator("#confirm-plan tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td")).to_have_text(["en English", "2", "en"])
    expect(rows.filter(has_text="pl").locator("td").nth(1)).to_have_text("1")
    expect(rows.filter(has_text="pl").locator("td").nth(2)).to_have_text("en fallback")
    expect(rows.filter(has_text="uk").locator("td").nth(1)).to_have_text("1")
    expect(page.locator("#confirm-lists .tag")).to_have_text(
        ["Partner collectives", "Press contacts"]
    )
    expect(page.locator("#confirm-sender")).to_have_text("Solidarity Desk <desk@example.org>")
    expect(page.locator("#confirm-servers")).to_have_text(
        re.compile(r"^dead \(127\.0\.0\.1:\d+\)$")
    )
    expect(page.locator("#confirm-total")).to_have_text("4 messages")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0

    page.get_by_role("button", name="Send to 4 recipients now").click()
    expect(page.locator(".flash")).to_have_text("Sending to 4 recipients.")
    expect(page.locator("#status")).to_have_text("sending")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.SENDING
    addresses = db.session.scalars(
        select(Subscriber.email)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.campaign_id == campaign.id)
    ).all()
    assert sorted(addresses) == [
        "ann@example.org",
        "bob@example.org",
        "olena@example.org",
        "piotr@example.org",
    ]


def test_a_summary_gone_stale_shows_the_new_one_and_sends_nothing(app: Flask, page: Page) -> None:
    users.create_user(EMAIL, PASSWORD, "owner")
    partners = make_list("partners", "Partner collectives")
    make_subscriber("ann@example.org", language="en", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners], smtp_server="dead")
    log_in(page)
    page.goto(f"/campaigns/{campaign.id}")
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("#confirm-total")).to_have_text("1 message")

    make_subscriber("bob@example.org", language="uk", lists=[partners])  # meanwhile
    page.get_by_role("button", name="Send to 1 recipient now").click()
    expect(page.locator("#changed")).to_contain_text(
        "The audience or the variants changed since the summary was shown: nothing was sent."
    )
    rows = page.locator("#confirm-plan tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="uk").locator("td").nth(2)).to_have_text("en fallback")
    expect(page.locator("#confirm-total")).to_have_text("2 messages")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0

    page.get_by_role("button", name="Send to 2 recipients now").click()
    expect(page.locator(".flash")).to_have_text("Sending to 2 recipients.")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.SENDING
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 2
