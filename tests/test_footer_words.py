"""The footer speaks the reader's language: the catalogues' words for shipped languages, the
organiser's for others (else English, said on the campaign page), right to left where the
words are, the list names isolated, and made once per variant, never per message."""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from app.campaigns import campaign_files, drafts
from app.errors import InvalidInput
from app.extensions import db
from app.messages import composing
from app.messages.composing import factory_for, recipient_of
from app.models import Campaign, Variant
from app.models.base import utcnow
from tests.support.factories import make_list, make_subscriber

LIST_NAME = "Partner collectives 2026"
WRITTEN = {
    "ar": ("تصلك هذه الرسالة لأنك مشترك في %(lists)s.", "إلغاء الاشتراك", "التفضيلات"),
    "he": ("קיבלת הודעה זו כמנוי של %(lists)s.", "הסרה מהרשימה", "העדפות"),
}
BODIES = {"ar": "مرحبا بكم في أسبوع العمل.", "he": "ברוכים הבאים לשבוע הפעולה."}


def campaign_with(languages: dict[str, tuple[str, str, str]]) -> Campaign:
    """A campaign to LIST_NAME with a variant per language and the footer words given."""
    partners = make_list("partners", LIST_NAME)
    campaign = drafts.create_campaign("Week of action", lists=[partners])
    for language, footer in languages.items():
        body = BODIES.get(language, f"Body in {language}")
        drafts.save_variant(campaign.id, language, subject="S", body=body, footer=footer)
    return campaign


def built(campaign: Campaign, language: str) -> EmailMessage:
    """The message the send path builds for a reader of ``language``."""
    partners = campaign.lists[0]
    reader = make_subscriber(f"r-{language}@example.org", language=language, lists=[partners])
    factory = factory_for(db.session.get(Campaign, campaign.id))
    outgoing = factory.build(recipient_of(reader), utcnow())
    assert outgoing is not None and outgoing.language == language
    return BytesParser(policy=policy.default).parsebytes(outgoing.data)


def parts(message: EmailMessage) -> tuple[str, list[str]]:
    """The HTML part, and the text part's footer lines (after the signature separator)."""
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return html, text.split("\n-- \n", 1)[1].strip().splitlines()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page of its own."""
    context = browser.new_context(viewport={"width": 375, "height": 800})
    yield context.new_page()
    context.close()


def test_a_shipped_language_gets_the_catalogues_footer_words(app):
    """uk, es, fr, de, pl: the reason, Preferences and Unsubscribe as their catalogue says."""
    languages = ("uk", "es", "fr", "de", "pl")
    campaign = campaign_with({language: ("", "", "") for language in languages})
    for language in languages:
        with force_locale(language):
            reason = gettext("You receive this as a subscriber to %(lists)s.", lists=LIST_NAME)
            preferences, unsubscribe = gettext("Preferences"), gettext("Unsubscribe")
        assert preferences != "Preferences" and not reason.startswith("You receive"), language
        html, footer = parts(built(campaign, language))
        assert footer[0] == reason
        assert footer[1].startswith(f"{preferences}: ") and footer[2].startswith(f"{unsubscribe}: ")
        assert f">{preferences}</a>" in html and f">{unsubscribe}</a>" in html


@pytest.mark.slow
@pytest.mark.parametrize("language", ["ar", "he"])
def test_a_right_to_left_footer_reads_right_to_left_with_the_list_name_isolated(
    app, page: Page, language: str
):
    """The organiser's words: the footer paragraph is rtl, the list name sits in its own
    isolate, and the full stop ends the sentence at its left, where a reader of it looks."""
    campaign = campaign_with({language: WRITTEN[language]})
    html, footer = parts(built(campaign, language))
    page.set_content(html)
    paragraph = page.locator(".footer p")
    assert paragraph.evaluate("p => getComputedStyle(p).direction") == "rtl"
    assert paragraph.get_attribute("lang") == language
    for selector in ("body", "table.wrapper", "table.card"):  # not only <html>
        assert page.locator(selector).get_attribute("dir") == "rtl", selector
    for selector in ("body", "table.card", "td.content", "td.footer"):
        direction = page.locator(selector).evaluate("e => getComputedStyle(e).direction")
        assert direction == "rtl", selector
    assert page.locator(".footer bdi").inner_text() == LIST_NAME
    reason, unsubscribe, preferences = WRITTEN[language]
    assert page.locator(".footer a").all_inner_texts() == [preferences, unsubscribe]
    # On screen: the full stop is left of the list name, which is left of the words before it.
    boxes = page.evaluate(
        """() => {
          const bdi = document.querySelector('.footer bdi');
          const after = bdi.nextSibling, before = bdi.previousSibling;
          const box = (node, start, end) => {
            const range = document.createRange();
            range.setStart(node, start); range.setEnd(node, end);
            return range.getBoundingClientRect();
          };
          const stop = box(after, 0, 1), name = bdi.getBoundingClientRect();
          const words = box(before, 0, before.textContent.trimEnd().length);
          return {stop: [stop.left, stop.right], name: [name.left, name.right],
                  words: [words.left, words.right]};
        }"""
    )
    assert boxes["stop"][1] <= boxes["name"][0] + 0.5, boxes
    assert boxes["name"][1] <= boxes["words"][0] + 0.5, boxes
    # The text part: the same words in reading order, the list name isolated (FSI … PDI).
    before, _, after = reason.partition("%(lists)s")
    assert footer[0] == f"{before}\u2068{LIST_NAME}\u2069{after}"
    assert footer[1].startswith(f"{preferences}: https://")
    assert footer[2].startswith(f"{unsubscribe}: https://")


@pytest.mark.slow
def test_a_language_without_words_gets_english_ones_left_to_right_and_the_page_says_so(
    app, client, page: Page
):
    """Arabic without written words: English words, in an ltr paragraph inside the rtl
    message (so the full stop ends the English sentence), and the campaign page names it."""
    campaign = campaign_with({"ar": ("", "", ""), "uk": ("", "", "")})
    html, footer = parts(built(campaign, "ar"))
    page.set_content(html)
    paragraph = page.locator(".footer p")
    assert paragraph.get_attribute("lang") == "en"
    assert paragraph.evaluate("p => getComputedStyle(p).direction") == "ltr"
    assert page.locator("td.content").evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert paragraph.inner_text().startswith(f"You receive this as a subscriber to {LIST_NAME}.")
    assert footer[0] == f"You receive this as a subscriber to {LIST_NAME}."
    shown = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert '<p id="english-footer">English footer words for ar:' in shown


def test_footer_words_are_made_once_per_variant_not_per_message(app, monkeypatch):
    """A factory makes each variant's footer values once; building messages makes none."""
    campaign = campaign_with({"en": ("", "", ""), "ar": WRITTEN["ar"]})
    made: list[str] = []
    values = composing.FooterWords.values

    def counted(self: composing.FooterWords, lists: str) -> dict:
        made.append(self.language)
        return values(self, lists)

    monkeypatch.setattr(composing.FooterWords, "values", counted)
    factory = factory_for(db.session.get(Campaign, campaign.id))
    assert sorted(made) == ["ar", "en"]
    for number in range(5):
        reader = make_subscriber(f"r{number}@example.org", language="ar", lists=campaign.lists)
        assert factory.build(recipient_of(reader), utcnow()) is not None
    assert sorted(made) == ["ar", "en"]


@pytest.mark.parametrize(
    ("footer", "message"),
    [
        (("Why", "", "Prefs"), "write all three"),
        (("Because 100% %(lists)s", "Out", "Prefs"), "no other %"),
        (("x" * 501, "Out", "Prefs"), "at most 500"),
    ],
)
def test_footer_words_that_cannot_work_are_refused_and_nothing_changes(app, footer, message):
    """Half-written or broken footer words get a clear error; the variant stays as it was."""
    campaign = campaign_with({"ar": WRITTEN["ar"]})
    with pytest.raises(InvalidInput, match=message):
        drafts.save_variant(campaign.id, "ar", subject="Other", body="x", footer=footer)
    db.session.rollback()
    variant = db.session.scalars(select(Variant).where(Variant.campaign_id == campaign.id)).one()
    assert (variant.subject, variant.footer_reason) == ("S", WRITTEN["ar"][0])


def test_campaign_files_carry_the_footer_words(app):
    """Exported and imported again, the organiser's footer words come back unchanged."""
    campaign = campaign_with({"ar": WRITTEN["ar"], "en": ("", "", "")})
    text = campaign_files.export(db.session.get(Campaign, campaign.id), "toml")
    assert "[variants.footer]" in text
    copy = campaign_files.import_text(text.replace("Week of action", "Copy"), "toml")
    words = {v.language: composing.written_words(v) for v in copy.variants}
    assert words == {"ar": WRITTEN["ar"], "en": ("", "", "")}
