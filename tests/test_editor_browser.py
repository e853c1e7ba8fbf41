"""The variant editor in a real browser, on a laptop and on a phone: the live preview follows
the typing, a template error shows its line while the last good preview stays, and the
Markdown toolbar (and its shortcuts) edits the selection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from app.accounts import users
from app.extensions import db
from app.models import Campaign
from tests.support.browser import EMAIL, PASSWORD, PHONE, log_in
from tests.support.factories import make_campaign
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow

LAPTOP = {"width": 1280, "height": 800}
DEADLINE_MS = 5000


@pytest.fixture(params=[LAPTOP, PHONE], ids=["laptop", "phone"])
def editor(
    request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer
) -> Iterator[tuple[Page, Campaign]]:
    """An owner's page on a campaign's English variant, at a laptop's or a phone's width."""
    users.create_user(EMAIL, PASSWORD, "owner")
    campaign = make_campaign({"en": ("Week of action", "# Saved words\n\nSee you there.")})
    context = browser.new_context(base_url=live_server.url, locale="en-GB", viewport=request.param)
    page = context.new_page()
    log_in(page)
    page.goto(f"/campaigns/{campaign.id}/variant?language=en")
    yield page, campaign
    context.close()


def _preview(page: Page):  # noqa: ANN202 - Playwright's locator
    return page.locator("#preview-frame")


def _select(page: Page, start: int, end: int) -> None:
    page.locator("#body").evaluate(
        f"area => {{ area.focus(); area.setSelectionRange({start}, {end}); }}"
    )


def test_typing_updates_the_preview(editor: tuple[Page, Campaign]) -> None:
    page, _campaign = editor
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("h1")).to_have_text("Saved words", timeout=DEADLINE_MS)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "draft-preview" in r.url else None)

    page.locator("#body").fill("")
    page.locator("#body").press_sequentially("# Fresh words for {{ name | default('all') }}")

    expect(frame.locator("h1")).to_have_text("Fresh words for all", timeout=DEADLINE_MS)
    assert len(requests) <= 3  # the debounce asks once after typing stops, not per key
    page.get_by_label("Subject").fill("New subject")
    expect(page.locator("#preview-subject")).to_have_text("New subject", timeout=DEADLINE_MS)
    no_sideways = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways)


def test_an_error_shows_its_line_and_the_last_preview_stays(
    editor: tuple[Page, Campaign],
) -> None:
    page, _campaign = editor
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("h1")).to_have_text("Saved words", timeout=DEADLINE_MS)

    page.locator("#body").fill("# Still here\n\nHello\n{{ name | nosuchfilter }}\n")

    problem = page.locator("#preview-error")
    expect(problem).to_contain_text("line 4:", timeout=DEADLINE_MS)
    expect(problem).to_contain_text("No filter named 'nosuchfilter'")
    expect(problem).to_have_attribute("aria-live", "polite")
    expect(page.locator("#body")).to_have_attribute("aria-invalid", "true")
    expect(frame.locator("h1")).to_have_text("Saved words")  # the last good preview

    page.get_by_role("button", name="Go to line 4").click()
    selected = page.locator("#body").evaluate(
        "a => a.value.slice(a.selectionStart, a.selectionEnd)"
    )
    assert selected == "{{ name | nosuchfilter }}"

    page.locator("#body").fill("# Mended\n\n{% if name %}x{% endif %}")
    expect(frame.locator("h1")).to_have_text("Mended", timeout=DEADLINE_MS)
    expect(problem).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_toolbar_and_shortcuts_edit_the_selection(editor: tuple[Page, Campaign]) -> None:
    page, _campaign = editor
    body = page.locator("#body")
    body.fill("make this loud")
    _select(page, 10, 14)

    page.get_by_role("button", name="Bold (Ctrl+B)").click()

    expect(body).to_have_value("make this **loud**")
    assert page.evaluate("document.activeElement.id") == "body"

    body.fill("quiet words")
    _select(page, 0, 5)
    page.keyboard.press("Control+b")
    expect(body).to_have_value("**quiet** words")
    _select(page, 10, 15)
    page.keyboard.press("Control+i")
    expect(body).to_have_value("**quiet** *words*")

    body.fill("one\ntwo")
    _select(page, 0, 7)
    page.get_by_role("button", name="Numbered list").click()
    expect(body).to_have_value("1. one\n2. two")
    page.get_by_role("button", name="Insert the name placeholder").click()
    expect(body).to_have_value("1. one\n2. two{{ name }}")
    for name in ("Italic (Ctrl+I)", "Link", "Heading", "Bulleted list", "Quote"):
        expect(page.get_by_role("button", name=name)).to_have_attribute("type", "button")
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("ol li")).to_have_count(2, timeout=DEADLINE_MS)


def test_the_preview_frame_is_sandboxed_and_runs_no_script(
    editor: tuple[Page, Campaign],
) -> None:
    page, _campaign = editor
    expect(_preview(page)).to_have_attribute("sandbox", "")
    page.locator("#body_format").select_option("html")
    page.locator("#body").fill(
        '<h1>Shown</h1><script>parent.document.title = "ran"</script>'
        '<img src="x.png" alt="" onerror="parent.document.title = \'ran\'">'
    )
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("h1")).to_have_text("Shown", timeout=DEADLINE_MS)
    assert "<script" not in (_preview(page).get_attribute("srcdoc") or "")

    # Even a script put into the frame by hand does not run there: sandbox="" forbids it.
    forced = (
        '<h1>Forced</h1><script>document.body.dataset.ran = "yes";'
        ' parent.document.title = "ran"</script>'
    )
    page.locator("#preview-frame").evaluate("(frame, html) => { frame.srcdoc = html; }", forced)
    expect(frame.locator("h1")).to_have_text("Forced", timeout=DEADLINE_MS)
    assert frame.locator("body").get_attribute("data-ran") is None
    assert page.title() != "ran"


def test_without_javascript_the_form_saves_as_before(
    browser: Browser, live_server: LiveServer
) -> None:
    users.create_user(EMAIL, PASSWORD, "owner")
    campaign = make_campaign({"en": ("Week of action", "Saved words")})
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", viewport=PHONE, java_script_enabled=False
    )
    page = context.new_page()
    log_in(page)
    page.goto(f"/campaigns/{campaign.id}/variant?language=en")

    expect(page.get_by_role("toolbar", name="Markdown tools")).to_be_hidden()
    expect(page.locator("#preview-frame")).to_be_hidden()
    page.locator("#body").fill("New **words**")
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".flash")).to_contain_text("Saved the en variant.")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).variants[0].body == "New **words**"
    context.close()
