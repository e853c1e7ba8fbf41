"""Every page of the panel on a phone (375 px) and on a laptop (1,280 px), in a real browser."""

from __future__ import annotations

import io
import mailbox
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.audience import imports
from app.catcher import list_caught
from app.inbound import intake
from app.messages import layouts
from app.messages.system_emails import Kind
from tests.support.browser import PHONE
from tests.support.factories import make_campaign, make_group, make_list, make_subscriber

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).parent / "screenshots" / "panel"
LAPTOP = {"width": 1280, "height": 800}
# GET routes that answer with JSON or a file, not a page.
NOT_PAGES = {
    "panel.campaign_progress",
    "panel.campaign_export",
    "panel.export_csv",
    "panel.import_progress",
    "panel.import_report",
    "panel.inbound_raw",
    "panel.login",
}


def _panel_pages(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str]]:
    """(a name, path) for every GET page of the panel, its ids taken from created objects."""
    partners = make_list("partners", "Partner collectives")
    person = make_subscriber("olena@example.org", lists=[partners], language="uk", name="Olena")
    group = make_group("Kyiv mutual aid", "UA")
    campaign = make_campaign({"en": "Week of action", "uk": "Тиждень дій"}, lists=[partners])
    layout = layouts.save_template("Plain", layouts.default_layout())
    csv = io.BytesIO(b"email,name\nann@example.org,Ann\n")
    job = imports.upload(csv, "people.csv", partners.id, "subscribe")
    maildir = tmp_path / "maildir"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "news@example.org", person.email, "Hi"
    message.set_content("Hello")
    mailbox.Maildir(maildir, create=True).add(message)
    monkeypatch.setitem(app.config, "CATCHER_MAILDIR", str(maildir))
    [caught] = list_caught(maildir)
    bounce = intake.accept(message.as_bytes(), source="imap")
    values: dict[str, object] = {
        "list_id": partners.id,
        "subscriber_id": person.id,
        "campaign_id": campaign.id,
        "group_id": group.id,
        "job_id": job.id,
        "template_id": layout.id,
        "kind": next(iter(Kind)).value,
        "language": "uk",
        "key": caught.key,
        "inbound_id": bounce.id,
    }
    pages = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("panel.") or "GET" not in (rule.methods or ()):
                continue
            if rule.endpoint in NOT_PAGES:
                continue
            path = app.url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})
            name = rule.endpoint.removeprefix("panel.") + ("-one" if rule.arguments else "")
            pages.append((name, path))
    return pages


def _scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))


def test_every_panel_page_fits_a_phone_and_reaches_log_out(
    app: Flask, owner_page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = owner_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = _panel_pages(app, tmp_path, monkeypatch)
    assert len(pages) > 20
    wide = []
    for endpoint, path in pages:
        response = page.goto(path)
        assert response is not None and response.ok, (endpoint, path)
        if "text/html" not in response.headers.get("content-type", ""):
            continue  # JSON polled by a page, or a download: nothing a person reads
        page.screenshot(path=SCREENSHOTS / f"{endpoint}.png", full_page=True)
        if _scrolls_sideways(page):
            wide.append((path, page.evaluate("document.documentElement.scrollWidth")))
        log_out = page.get_by_role("button", name="Log out")
        if not log_out.is_visible():
            page.locator("nav").get_by_text("Menu", exact=True).click()
        expect(log_out).to_be_visible()
        box = log_out.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert wide == []
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_nav_is_one_line_on_a_laptop(owner_page: Page) -> None:
    page = owner_page
    page.set_viewport_size(LAPTOP)
    page.goto("/campaigns")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("nav").get_by_text("Menu", exact=True)).to_be_hidden()
    heights = page.evaluate(
        """() => {
            const nav = document.querySelector('nav');
            const link = nav.querySelector('a');
            const style = getComputedStyle(nav);
            const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
            const inner = nav.clientHeight - padding;
            const boxes = [...nav.querySelectorAll('strong, a, button')]
                .map(e => e.getBoundingClientRect());
            return {
                inner,
                line: link.getBoundingClientRect().height,
                tops: boxes.map(b => b.top),
                heights: boxes.map(b => b.height),
            };
        }"""
    )
    assert max(heights["tops"]) - min(heights["tops"]) < heights["line"] / 2
    assert max(heights["heights"]) < 1.5 * heights["line"]
    assert heights["inner"] < 1.5 * heights["line"]
    assert page.evaluate("(n => n.scrollWidth <= n.clientWidth)(document.querySelector('nav'))")
    assert not _scrolls_sideways(page)
