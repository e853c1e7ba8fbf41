"""Debian's chromium, driven by Playwright, and the organiser who logs in with it."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EMAIL = "organiser@example.org"
PASSWORD = "correct horse battery"
PHONE = {"width": 375, "height": 740}


def log_in(page: Page) -> None:
    """Log in through the form and land on the campaigns."""
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    expect(page.locator("h1")).to_contain_text("Campaigns")
    expect(page.locator("nav")).to_contain_text(f"{EMAIL} (owner)")
