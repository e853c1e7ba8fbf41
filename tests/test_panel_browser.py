"""The organisers' panel in a real browser: from logging in to reading the sent mail."""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Frame, Page, expect

from app.accounts import users
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.smtp import SmtpServer
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.slow

LIST_NAME = "Partner collectives"
CAMPAIGN_NAME = "Week of action"
PEOPLE = {"ann@example.org": "en", "olena@example.org": "uk", "lucia@example.org": "es"}
# language -> (subject, Markdown body, a sentence of the body as the reader sees it)
VARIANTS = {
    "en": (
        "Week of action",
        "Dear friends,\n\nJoin the **week of action**.",
        "Join the week of action.",
    ),
    "uk": (
        "Тиждень дій",
        "Вітаємо, друзі!\n\nДолучайтеся до **тижня дій**.",
        "Долучайтеся до тижня дій.",
    ),
    "es": (
        "Semana de acción",
        "Hola, amigos.\n\nÚnete a la **semana de acción**.",
        "Únete a la semana de acción.",
    ),
}
SEND_TIMEOUT_MS = 60_000


def go_to(page: Page, section: str) -> None:
    """Follow a link in the navigation bar."""
    page.locator("nav").get_by_role("link", name=section, exact=True).click()
    expect(page.locator("h1")).to_contain_text(section)


def create_list(page: Page) -> None:
    """Create the partners' list from the Lists page."""
    go_to(page, "Lists")
    expect(page.locator("tbody")).to_contain_text("No lists yet.")
    page.get_by_label("Name").fill(LIST_NAME)
    page.get_by_label("Slug").fill("partners")
    page.get_by_role("button", name="Create list").click()
    expect(page.locator(".flash")).to_have_text(f"Created the list {LIST_NAME}.")
    row = page.locator("tbody tr", has_text=LIST_NAME)
    expect(row.locator("td")).to_have_text(
        [LIST_NAME, "partners", "private", "double", "en", "0", "settings"]
    )


def add_subscribers(page: Page) -> None:
    """Add each person by hand on the Subscribers page, then see them all listed."""
    go_to(page, "Subscribers")
    for email, language in PEOPLE.items():
        form = page.locator("#add-subscriber")  # the page also has filters and bulk actions
        form.get_by_label("Email").fill(email)
        form.get_by_label("Language").fill(language)
        form.get_by_label(LIST_NAME).check()
        form.get_by_role("button", name="Add subscriber").click()
        expect(page.locator(".flash")).to_have_text(f"Added {email}.")
    go_to(page, "Subscribers")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(len(PEOPLE))
    for email, language in PEOPLE.items():
        expect(rows.filter(has_text=email).locator(".tag")).to_have_text(language)


def create_campaign(page: Page) -> str:
    """Create the campaign, write its three languages; return the campaign page's URL."""
    go_to(page, "Campaigns")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill(CAMPAIGN_NAME)
    page.get_by_label("Send to lists").select_option(label=LIST_NAME)
    expect(page.get_by_label("Default language")).to_have_value("en")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
    expect(page.locator("#status")).to_have_text("draft")
    expect(page.get_by_text("No language yet.")).to_be_visible()
    campaign_url = page.url
    for language, (subject, body, _sentence) in VARIANTS.items():
        page.get_by_role("link", name="Add a language").click()
        page.get_by_label("Language").fill(language)
        page.get_by_label("Subject").fill(subject)
        expect(page.get_by_label("Format")).to_have_value("markdown")
        page.get_by_label("Body").fill(body)
        expect(page.get_by_label("Ready to send")).to_be_checked()
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(campaign_url)
        expect(page.locator(".flash")).to_have_text(f"Saved the {language} variant.")
    variant_rows = page.locator("section", has_text="Languages").locator("tbody tr")
    expect(variant_rows).to_have_count(len(VARIANTS))
    for language, (subject, _body, _sentence) in VARIANTS.items():
        expect(variant_rows.filter(has_text=subject)).to_contain_text(language)
    return campaign_url


def assert_content_fits(frame: Frame | None, language: str) -> None:
    """The message in a preview frame is as wide as the frame: no sideways scroll, and no
    text whose box runs past the frame's edge."""
    assert frame is not None, "the preview frame has a document"
    widths = frame.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{language}: the message is {widths[0]} px in {widths[1]}"
    overflowing = frame.evaluate(
        """() => Array.from(document.body.querySelectorAll('*')).filter(e => {
             const box = e.getBoundingClientRect();
             return box.width > 0 && e.textContent.trim()
               && (box.right > document.documentElement.clientWidth + 0.5 || box.left < -0.5);
           }).map(e => e.tagName)"""
    )
    assert overflowing == [], f"{language}: cut off in the frame: {overflowing}"


def check_previews(page: Page, campaign_url: str, screenshot: Path) -> None:
    """Open each language's preview: its subject, and its body inside the sandboxed frame."""
    for language, (subject, body, sentence) in VARIANTS.items():
        page.goto(campaign_url)
        row = page.locator("tbody tr", has_text=subject)
        row.get_by_role("link", name="Preview").click()
        expect(page).to_have_url(f"{campaign_url}/preview/{language}")
        expect(page.locator("nav.tabs a.tab.current")).to_have_text(language)
        expect(page.locator("#subject")).to_have_text(subject)
        frame = page.locator("iframe.mail")
        expect(frame).to_have_attribute("sandbox", "")
        expect(frame).to_have_attribute("srcdoc", re.compile(re.escape(subject)))
        expect(page.frame_locator("iframe.mail").locator("body")).to_contain_text(sentence)
        expect(page.locator("pre.text-part")).to_contain_text(body.splitlines()[0])
        if language == "uk":
            page.get_by_role("link", name="Mobile").click()
            mobile = page.locator("iframe.mail.mobile")
            expect(mobile).to_be_visible()
            expect(mobile).to_have_css("width", "375px")  # measured once the stylesheet applies
            box = mobile.bounding_box()
            assert box is not None and 370 <= box["width"] <= 380, box
            assert_content_fits(mobile.element_handle().content_frame(), language)
            page.screenshot(path=screenshot, full_page=True)


def send_and_watch(page: Page, campaign_url: str, worker: WorkerProcess, screenshot: Path) -> None:
    """Press Send now, confirm the summary, and watch the page's polling report it sent."""
    page.goto(campaign_url)
    page.get_by_role("button", name="Send now").click()
    rows = page.locator("#confirm-plan tbody tr")
    expect(rows).to_have_count(len(PEOPLE))
    for language in PEOPLE.values():
        expect(rows.filter(has_text=language).locator("td").nth(1)).to_have_text("1")
    expect(page.locator("#confirm-lists")).to_have_text(LIST_NAME)
    page.get_by_role("button", name=f"Send to {len(PEOPLE)} recipients now").click()
    expect(page.locator(".flash")).to_have_text(f"Sending to {len(PEOPLE)} recipients.")
    try:
        expect(page.locator("#status")).to_have_text("sent", timeout=SEND_TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{worker.log_tail()}") from exc
    expect(page.locator('[data-count="sent"]')).to_have_text(str(len(PEOPLE)))
    expect(page.locator('[data-count="queued"]')).to_have_text("0")
    expect(page.get_by_role("button", name="Send now")).to_have_count(0)
    page.screenshot(path=screenshot, full_page=True)


def read_caught_mail(page: Page) -> None:
    """See one message per person in the mail catcher; read the Ukrainian one."""
    go_to(page, "Mail catcher")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(len(PEOPLE))
    for email, language in PEOPLE.items():
        row = rows.filter(has_text=email)
        expect(row.locator(".tag")).to_have_text(language)
        expect(row).to_contain_text(VARIANTS[language][0])
    page.get_by_role("link", name="Тиждень дій").click()
    expect(page.locator("h1")).to_have_text("Mail catcher: Тиждень дій")
    expect(page.locator("pre.text-part")).to_contain_text("Вітаємо, друзі!")
    expect(page.locator("pre.text-part")).to_contain_text("Долучайтеся до **тижня дій**.")
    expect(page.locator("table.headers")).to_contain_text("olena@example.org")
    expect(page.frame_locator("iframe.mail").locator("body")).to_contain_text(VARIANTS["uk"][2])


def test_logged_out_visit_is_sent_to_the_login_page(page: Page) -> None:
    """Without a session, the campaigns page redirects to the login form."""
    page.goto("/campaigns")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcampaigns$"))
    expect(page.locator(".flash")).to_have_text("Please log in.")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_organiser_sends_a_multilingual_campaign(
    app: Flask,
    page: Page,
    run_worker: WorkerProcess,
    smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    """Log in, make a list and subscribers, write three languages, preview, send, read."""
    users.create_user(EMAIL, PASSWORD, "owner")
    mailbox.Maildir(app.config["CATCHER_MAILDIR"], create=True).clear()  # earlier tests' mail

    log_in(page)
    create_list(page)
    add_subscribers(page)
    campaign_url = create_campaign(page)
    check_previews(page, campaign_url, tmp_path / "preview-uk.png")
    send_and_watch(page, campaign_url, run_worker, tmp_path / "campaign-sent.png")
    read_caught_mail(page)

    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.messages) == sorted(PEOPLE)
