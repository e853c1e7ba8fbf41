"""The bounce log, the inbound mail and a subscriber's returns on a phone, in a real browser:
wide rows scroll inside their table, never the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.inbound import intake
from app.models import ReturnKind
from tests.support.browser import PHONE
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.returns import record

pytestmark = pytest.mark.slow

LONG_ADDRESS = "a.very.long.local.part.for.a.phone.screen@mail.partner-collective.example"
# A server's reply with no place to break: the kind that pushes a page sideways.
LONG_DIAGNOSTIC = "550-5.1.1 " + "x" * 180 + " https://support.example.net/mail/?p=NoSuchUser"


def _scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))


def _scrolls_in_its_box(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(f"(e => e.scrollWidth > e.clientWidth)(document.querySelector('{selector}'))")
    )


def test_the_bounce_log_fits_a_phone_and_its_table_scrolls_in_its_own_box(owner_page: Page) -> None:
    page = owner_page
    person = make_subscriber(LONG_ADDRESS, lists=[make_list()])
    campaign = make_campaign({"en": "Week of action"})
    for kind in (ReturnKind.HARD, ReturnKind.SOFT, ReturnKind.COMPLAINT):
        record(
            person.id,
            kind,
            source="postmark",
            campaign_id=campaign.id,
            status_code="5.1.1",
            diagnostic=LONG_DIAGNOSTIC,
        )
    raw = ("Subject: bounce\r\n\r\n" + LONG_DIAGNOSTIC * 3 + "\r\n").encode()
    inbound = intake.accept(raw, source="imap")
    assert page.viewport_size == PHONE

    page.goto("/bounces")
    expect(page.locator("#returns tbody tr")).to_have_count(3)
    expect(page.locator("h1")).to_have_text("Bounces")
    assert not _scrolls_sideways(page)
    assert _scrolls_in_its_box(page, "#returns")
    # The filters stack one under another and stay inside the screen.
    box = page.locator("#filters").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    page.get_by_label("Kind").select_option("soft")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#returns tbody tr")).to_have_count(1)
    assert not _scrolls_sideways(page)

    for path in ("/inbound", f"/inbound/{inbound.id}", f"/subscribers/{person.id}"):
        page.goto(path)
        assert not _scrolls_sideways(page), path
    page.goto(f"/inbound/{inbound.id}")
    # The raw message wraps its long lines inside the screen (a box that scrolled would need
    # to take keyboard focus to be read without a mouse).
    raw = page.locator("#raw").bounding_box()
    assert raw is not None and raw["x"] >= 0 and raw["x"] + raw["width"] <= PHONE["width"]
