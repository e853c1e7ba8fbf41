"""The panel as an organiser reaches it: over HTTP with the test client, or in Debian's
chromium through Playwright (never a downloaded browser), logged in either way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright

from app.accounts import users
from tests.support.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
EMAIL = "organiser@example.org"
PASSWORD = "correct horse battery"


def csrf_token(client, path: str) -> str:  # noqa: ANN001
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def logged_in_client(app: Flask, role: str = "owner"):  # noqa: ANN201
    """A test client logged in as a new organiser with ``role``."""
    users.create_user(EMAIL, PASSWORD, role)
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    return client


@pytest.fixture(scope="module")
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The panel served over HTTP on loopback for the module."""
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium."""
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture()
def owner_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context at desktop width, logged in as an owner."""
    users.create_user(EMAIL, PASSWORD, "owner")
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    yield page
    context.close()
