"""A bulk action in a real browser: filter, check two rows, blocklist them, confirm."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.accounts import users
from app.audience import suppressions
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.factories import make_list, make_subscriber

pytestmark = pytest.mark.slow


def test_blocklisting_two_checked_subscribers_after_a_confirmation(app, page: Page):
    users.create_user(EMAIL, PASSWORD, "owner")
    partners = make_list()
    for address, language in [
        ("a@example.org", "uk"),
        ("b@example.org", "uk"),
        ("c@example.org", "uk"),
        ("d@example.org", "en"),
    ]:
        make_subscriber(address, language=language, lists=[partners])
    log_in(page)
    page.locator("nav").get_by_role("link", name="Subscribers", exact=True).click()
    filters = page.locator("#filters")
    filters.get_by_label("Language").fill("uk")
    filters.get_by_role("button", name="Search").click()
    expect(page.locator("#total")).to_contain_text("3 matching")
    page.get_by_label("Select a@example.org").check()
    page.get_by_label("Select c@example.org").check()
    page.get_by_label("Action").select_option(label="Blocklist (and suppress their addresses)")
    page.get_by_role("button", name="Apply…").click()
    expect(page.locator("h1")).to_have_text(
        "Blocklist (and suppress their addresses): 2 subscribers?"
    )
    page.locator("#confirm").click()
    expect(page.locator(".flash")).to_have_text("Blocklisted 2; their addresses are suppressed.")
    expect(page).to_have_url(re.compile(r"/subscribers\?language=uk$"))
    rows = page.locator("#bulk tbody tr")
    expect(rows.filter(has_text="a@example.org")).to_contain_text("blocklisted")
    expect(rows.filter(has_text="b@example.org")).to_contain_text("active")
    assert suppressions.is_suppressed("c@example.org")
    assert not suppressions.is_suppressed("d@example.org")
