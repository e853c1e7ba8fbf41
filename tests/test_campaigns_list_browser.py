"""The campaigns list in Chromium on a phone (375 px): the page never scrolls sideways (the
wide table scrolls in its own box), and "Duplicate" works from the keyboard alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, CampaignStatus
from tests.support.factories import make_campaign

pytestmark = pytest.mark.slow


def test_the_list_fits_a_phone_and_its_table_scrolls_in_its_own_box(owner_page: Page):
    campaign = make_campaign({"en": "Hello", "uk": "Привіт", "pl": "Cześć"})
    stored = db.session.get(Campaign, campaign.id)
    stored.name = "December appeal for the winter shelters"
    stored.status = CampaignStatus.SCHEDULED
    stored.scheduled_at = datetime(2026, 12, 8, 12, 5, tzinfo=UTC)
    stored.schedule_timezone = "Europe/Kyiv"
    db.session.commit()

    owner_page.goto("/campaigns")
    row = owner_page.locator(f'tr[data-campaign="{campaign.id}"]')
    expect(row).to_contain_text("8 Dec 2026, 14:05")
    expect(row).to_contain_text("Europe/Kyiv")
    assert owner_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways"
    )
    table = owner_page.locator("#campaign-list")
    widths = table.evaluate("t => [t.scrollWidth, t.clientWidth, getComputedStyle(t).overflowX]")
    assert widths[0] > widths[1] and widths[2] == "auto"  # wider than the phone: it scrolls
    table.evaluate("t => { t.scrollLeft = t.scrollWidth; }")
    assert table.evaluate("t => t.scrollLeft") > 0
    assert owner_page.evaluate("window.scrollX") == 0


def test_duplicate_by_keyboard_opens_the_new_draft(owner_page: Page):
    campaign = make_campaign({"en": "Hello", "uk": "Привіт"})
    owner_page.goto("/campaigns")
    button = owner_page.get_by_role("button", name=f"Duplicate {campaign.name}")
    button.focus()
    expect(button).to_be_focused()
    owner_page.keyboard.press("Enter")
    expect(owner_page.locator(".flash")).to_contain_text(
        f"Created the draft “Copy of {campaign.name}”"
    )
    db.session.expire_all()
    copy = db.session.scalar(select(Campaign).where(Campaign.name == f"Copy of {campaign.name}"))
    assert copy is not None and copy.status == CampaignStatus.DRAFT
    assert [v.language for v in copy.variants] == ["en", "uk"]
    expect(owner_page).to_have_url(re.compile(rf"/campaigns/{copy.id}$"))
