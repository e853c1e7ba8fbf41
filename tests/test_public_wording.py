"""What public pages say to a reader: the subject they got (never an internal name), no
sentence left hanging by a link the archive cannot give, buttons that say what they do, and
list names and descriptions in the reader's language."""

from __future__ import annotations

from app.services import campaigns
from app.services.tokens import tokens
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.test_reports import report_path


def test_the_report_form_is_headed_by_the_readers_subject_not_the_internal_name(app):
    path, campaign, _kyiv = report_path("uk")
    client = app.test_client(use_cookies=False)
    form = client.get(path).get_data(as_text=True)
    assert "Заклик" in form
    assert campaign.name not in form
    thanks = client.post(
        path, data={"title": "Вечір", "event_date": "", "place": "", "links": "", "text": ""}
    ).get_data(as_text=True)
    assert "Дякуємо!" in thanks and "Заклик" in thanks and campaign.name not in thanks


def test_the_report_form_follows_the_sends_fallback_chain(app):
    partners = make_list()
    reader = make_subscriber("ola@example.org", language="pl", lists=[partners])
    campaign = make_campaign({"en": "Call", "uk": "Заклик"}, lists=[partners], fallbacks=["uk"])
    token = tokens().report(reader.uid, campaign.uid)
    page = app.test_client(use_cookies=False).get(f"/r/{token}").get_data(as_text=True)
    assert "Заклик" in page and campaign.name not in page


def test_the_archive_drops_the_sentence_whose_personal_link_is_gone(app):
    partners = make_list()
    make_subscriber("olena@example.org", language="uk", lists=[partners])
    body = (
        "Simply reply to this email with links and photos.\n\n"
        "Or use your group's own form: [tell us about your action]({{ report_url }}).\n\n"
        "[Visit the website](https://www.solidaritycollectives.org/en/)"
    )
    campaign = make_campaign({"en": ("Week of action", body)}, lists=[partners], archive=True)
    campaigns.start_sending(campaign.id)
    page = app.test_client().get(f"/archive/{campaign.uid}/en").get_data(as_text=True)
    assert "Simply reply to this email" in page and "Visit the website" in page
    assert "own form" not in page and "tell us about your action" not in page


def test_other_sentences_of_the_paragraph_stay_in_the_archive(app):
    partners = make_list()
    make_subscriber("olena@example.org", language="uk", lists=[partners])
    body = (
        "Send us photos. Or use [the form]({{ report_url }}). Thank you!\n\n"
        "- [Settings]({{ preferences_url }})\n- Kept item"
    )
    campaign = make_campaign({"en": ("Week", body)}, lists=[partners], archive=True)
    campaigns.start_sending(campaign.id)
    page = app.test_client().get(f"/archive/{campaign.uid}/en").get_data(as_text=True)
    assert "Send us photos. Thank you!" in page
    assert "the form" not in page and "Settings" not in page and "Kept item" in page
