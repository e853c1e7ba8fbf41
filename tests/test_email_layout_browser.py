"""The built-in layout in a real browser: the message the send path builds fits a phone in
every language (right-to-left too), with or without its ``<style>``, and its footer reads
in dark mode; so does the public archive page."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route

from app.campaigns import drafts, lifecycle
from app.demo import _read_call
from app.extensions import db
from app.messages.composing import factory_for, recipient_of
from app.models import Campaign
from app.models.base import utcnow
from tests.support.factories import make_list, make_subscriber
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow

LANGUAGES = ("en", "uk", "es", "fr", "de", "pl", "ar")
WIDTHS = (320, 375, 600, 1024)
SCREENSHOTS = Path(__file__).parent / "screenshots"
BANNER_URL = "https://images.example.org/week-of-action-banner.png"
# What every variant adds to its text: a picture twice as wide as the card and a long link.
EXTRAS = (
    f"\n\n![Banner]({BANNER_URL})\n\n"
    "<https://partners.example.org/week-of-action/2026/materials/posters-and-leaflets"
    "-in-every-language-of-the-network.pdf>\n"
)
OWN_CALLS = {
    "pl": (
        "Tydzień działania",
        "Drodzy przyjaciele,\n\nDołączcie do **tygodnia działania**: zbierzcie swoją "
        "grupę, wybierzcie miejsce i napiszcie nam, co zrobiliście.\n",
    ),
    "ar": (
        "أسبوع العمل",
        "أصدقاءنا الأعزاء،\n\nانضموا إلى **أسبوع العمل**: اجمعوا مجموعتكم واختاروا مكانًا "
        "وأخبرونا بما فعلتم في مدينتكم خلال الأسبوع.\n",
    ),
}

# Every piece of visible text (and every picture) whose box leaves the viewport on either
# side: text cut at the right for left-to-right languages, at the left for right-to-left.
CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const box of range.getClientRects()) {
      if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
        out.push(`${node.textContent.trim().slice(0, 40)}: ${box.left}..${box.right}`);
      }
    }
  }
  for (const image of document.images) {
    const box = image.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
      out.push(`img: ${box.left}..${box.right}`);
    }
  }
  return out;
}"""

# Each text node's colour and the background it is drawn on (the first ancestor's opaque one).
TEXT_COLOURS = """(selector) => {
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (!node.textContent.trim()) continue;
      const element = node.parentElement;
      let behind = element, background = 'rgba(0, 0, 0, 0)';
      while (behind) {
        background = getComputedStyle(behind).backgroundColor;
        if (!/rgba\\(.*, 0\\)$/.test(background)) break;
        behind = behind.parentElement;
      }
      out.push([node.textContent.trim(), getComputedStyle(element).color, background]);
    }
  }
  return out;
}"""


def png(width: int, height: int) -> bytes:
    """A plain red PNG of the given size (the banner the route serves)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xb3\x26\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


BANNER = png(1200, 300)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a computed ``rgb(…)``/``rgba(…)`` colour."""
    red, green, blue = (int(c) / 255 for c in re.findall(r"[\d.]+", colour)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two computed colours."""
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def without_styles(html: str) -> str:
    """The message as Gmail and others show it: every ``<style>`` element dropped."""
    return re.sub(r"<style\b.*?</style\s*>", "", html, flags=re.DOTALL | re.IGNORECASE)


def variants() -> dict[str, tuple[str, str]]:
    """The call in every shipped language and Arabic: subject and Markdown body."""
    found: dict[str, tuple[str, str]] = {}
    for language in LANGUAGES:
        if language in OWN_CALLS:
            subject, body = OWN_CALLS[language]
        else:
            subject, _preheader, body = _read_call(language)
        found[language] = (subject, body + EXTRAS)
    return found


def sent_html(languages: tuple[str, ...] = LANGUAGES) -> tuple[Campaign, dict[str, str]]:
    """Build each language's message as the send path does; return the HTML parts."""
    partners = make_list("partners", "Partner collectives")
    campaign = drafts.create_campaign("Week of action", lists=[partners], archive=True)
    for language, (subject, body) in variants().items():
        if language in languages:
            drafts.save_variant(campaign.id, language, subject=subject, body=body)
    factory = factory_for(db.session.get(Campaign, campaign.id))
    parts = {}
    for language in languages:
        reader = make_subscriber(
            f"reader-{language}@example.org", language=language, name="Nadia", lists=[partners]
        )
        outgoing = factory.build(recipient_of(reader), utcnow())
        assert outgoing is not None and outgoing.language == language
        message = BytesParser(policy=policy.default).parsebytes(outgoing.data)
        parts[language] = message.get_body(("html",)).get_content()
    return campaign, parts


def serve_banner(route: Route) -> None:
    """Answer the banner's URL with the wide picture (nothing reaches the network)."""
    route.fulfill(status=200, content_type="image/png", body=BANNER)


@pytest.fixture()
def light(browser: Browser) -> Iterator[Page]:
    """A page in light mode that serves the banner and nothing else from the network."""
    context = browser.new_context(color_scheme="light")
    context.route(BANNER_URL, serve_banner)
    yield context.new_page()
    context.close()


@pytest.fixture()
def dark(browser: Browser) -> Iterator[Page]:
    """A page whose reader prefers a dark colour scheme."""
    context = browser.new_context(color_scheme="dark")
    context.route(BANNER_URL, serve_banner)
    yield context.new_page()
    context.close()


def show(page: Page, width: int, html: str | None = None, url: str | None = None) -> None:
    """Show a message (or open a page) at a width, its pictures loaded."""
    page.set_viewport_size({"width": width, "height": 800})
    if url is None:
        page.set_content(html or "", wait_until="load")
    else:
        page.goto(url, wait_until="load")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")


def assert_fits(page: Page, what: str) -> None:
    """No horizontal scroll, no text or picture outside the viewport."""
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{what}: scrolls sideways ({widths[0]} > {widths[1]})"
    clipped = page.evaluate(CLIPPED)
    assert clipped == [], f"{what}: cut off: {clipped[:5]}"


def test_the_sent_email_fits_every_width_in_every_language(app, light: Page):
    """At 320, 375, 600 and 1024 px, with its stylesheet and without it, nothing is cut."""
    _campaign, parts = sent_html()
    SCREENSHOTS.mkdir(exist_ok=True)
    for language, html in parts.items():
        for width in WIDTHS:
            for label, shown in (("styled", html), ("no <style>", without_styles(html))):
                show(light, width, shown)
                assert_fits(light, f"{language} at {width} px, {label}")
                banner = light.locator("img[alt=Banner]").bounding_box()
                assert banner is not None and banner["width"] <= min(width, 600), banner
            if width == 375:
                show(light, width, html)
                light.screenshot(path=SCREENSHOTS / f"email-375-{language}.png", full_page=True)


def test_the_card_stays_600_px_wide_on_a_wide_screen(app, light: Page):
    """Fluid below 600 px, never wider than 600 px above it (with or without the stylesheet)."""
    _campaign, parts = sent_html(("en",))
    for shown in (parts["en"], without_styles(parts["en"])):
        show(light, 1024, shown)
        card = light.locator("table.card").bounding_box()
        assert card is not None and card["width"] == 600, card
        show(light, 320, shown)
        card = light.locator("table.card").bounding_box()
        assert card is not None and card["width"] == 320, card


def test_outlook_desktop_gets_a_600_px_ghost_table(app):
    """Outlook's Word engine ignores max-width: a table only it reads holds the card."""
    _campaign, parts = sent_html(("en",))
    ghost = re.search(r"<!--\[if mso\]>(.*?)<!\[endif\]-->", parts["en"], re.DOTALL)
    assert ghost is not None and 'width="600"' in ghost.group(1)


def test_every_text_of_the_email_is_readable_in_dark_mode(app, dark: Page, light: Page):
    """WCAG AA (4.5:1) for every text, the footer and its links included, in both schemes."""
    _campaign, parts = sent_html(("en", "ar"))
    for language, html in parts.items():
        for scheme, page in (("dark", dark), ("light", light)):
            show(page, 375, html)
            links = page.evaluate(TEXT_COLOURS, ".footer a")
            assert len(links) == 2, f"{language}: the footer's two links are measured: {links}"
            for text, colour, background in page.evaluate(TEXT_COLOURS, "body"):
                ratio = contrast(colour, background)
                assert ratio >= 4.5, (
                    f"{language}, {scheme}: {text!r} is {colour} on {background} ({ratio:.1f}:1)"
                )


def test_the_public_archive_page_fits_every_width(app, light: Page, live_server: LiveServer):
    """The archived message and the archive's index fit a phone in every language."""
    campaign, _parts = sent_html()
    lifecycle.start_sending(campaign.id)
    for language in LANGUAGES:
        for width in WIDTHS:
            show(light, width, url=f"{live_server.url}/archive/{campaign.uid}/{language}")
            assert light.locator("body").inner_text().strip(), "the page shows the message"
            assert_fits(light, f"archive page {language} at {width} px")
            show(light, width, url=f"{live_server.url}/archive/{language}/")
            assert_fits(light, f"archive index {language} at {width} px")
    # A subject in another direction than the page's is isolated and reads in its own.
    subject = light.locator("ul.archive a[lang=ar]")
    assert subject.evaluate("a => getComputedStyle(a).direction") == "rtl"
