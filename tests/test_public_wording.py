"""What public pages say to a reader: the subject they got (never an internal name), no
sentence left hanging by a link the archive cannot give, buttons that say what they do, and
list names and descriptions in the reader's language."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts import users
from app.audience import lists, subscriptions
from app.campaigns import lifecycle
from app.extensions import db
from app.models import MailingList, OutboxKind, OutboxMessage
from app.readers import preferences
from app.tokens import tokens
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.messages import build_for, report_path
from tests.support.panel import Client, text


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
    lifecycle.start_sending(campaign.id)
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
    lifecycle.start_sending(campaign.id)
    page = app.test_client().get(f"/archive/{campaign.uid}/en").get_data(as_text=True)
    assert "Send us photos. Thank you!" in page
    assert "the form" not in page and "Settings" not in page and "Kept item" in page


# Names and descriptions per language, with their fallback.

UK = ("uk", "Колективи-партнери", "Заклики до дій і новини мережі")
PT = ("pt", "Coletivos parceiros", "")


def named_list(default_language: str = "en", rows=(UK, PT)):
    """A public list named in English, Ukrainian and Portuguese (a name only)."""
    created = lists.create_list(
        "partners",
        "Partner collectives",
        description="Calls to action and network news",
        visibility="public",
        default_language=default_language,
    )
    return lists.update_list(
        created.id,
        created.name,
        description=created.description,
        visibility="public",
        optin="double",
        default_language=default_language,
        translations=list(rows),
    )


def sign_up_page(app, accept: str) -> str:
    page = app.test_client().get("/s/partners", headers={"Accept-Language": accept})
    return page.get_data(as_text=True)


def test_the_sign_up_page_names_the_list_in_the_readers_language(app):
    named_list()
    ukrainian = sign_up_page(app, "uk")
    assert "Колективи-партнери" in ukrainian and "Заклики до дій і новини мережі" in ukrainian
    assert "Partner collectives" not in ukrainian
    german = sign_up_page(app, "de")  # no German name: the list's own
    assert "Partner collectives" in german and "Calls to action and network news" in german
    assert "Колективи-партнери" not in german


def test_the_preference_centre_names_lists_in_the_readers_language_with_fallback(app):
    named_list()
    olena = make_subscriber("olena@example.org", language="uk-UA", lists=[])
    page = app.test_client().get(f"/p/{tokens().preferences(olena.uid)}").get_data(as_text=True)
    assert "Колективи-партнери" in page and "Заклики до дій і новини мережі" in page
    # Brazilian Portuguese falls back to Portuguese for the name; the description, written in
    # no Portuguese, is the list's own.
    joao = make_subscriber("joao@example.org", language="pt-BR", lists=[])
    page = app.test_client().get(f"/p/{tokens().preferences(joao.uid)}").get_data(as_text=True)
    assert "Coletivos parceiros" in page and "Calls to action and network news" in page


def test_the_lists_default_language_comes_before_its_own_name(app):
    named_list(default_language="uk", rows=(UK,))
    assert "Колективи-партнери" in sign_up_page(app, "fr")


def test_confirmation_goodbye_and_footer_name_the_list_in_the_readers_language(app):
    partners = named_list()
    olena = make_subscriber("olena@example.org", language="uk", lists=[partners])
    subscriptions.request_confirmation(olena, [partners])
    db.session.commit()
    preferences.leave_everything(tokens().preferences(olena.uid))
    payloads = {row.kind: row.payload["lists"] for row in db.session.scalars(select(OutboxMessage))}
    assert payloads == {
        OutboxKind.CONFIRM: "Колективи-партнери",
        OutboxKind.GOODBYE: "Колективи-партнери",
    }
    reader = make_subscriber("reader@example.org", language="uk", lists=[partners])
    campaign = make_campaign({"en": "Call", "uk": "Заклик"}, lists=[partners])
    footer = build_for(campaign, reader).get_body(("plain",)).get_content()
    assert "Колективи-партнери" in footer and "Partner collectives" not in footer


def test_the_list_settings_page_edits_names_per_language_and_keeps_bad_input(app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = Client(app)
    partners = named_list()
    page = text(client.get(f"/lists/{partners.id}"))
    assert 'value="Колективи-партнери"' in page and 'value="Coletivos parceiros"' in page
    fields = {
        "name": "Partner collectives",
        "visibility": "public",
        "optin": "double",
        "default_language": "en",
        "wordings-0-language": "uk",
        "wordings-0-name": "Партнери",
        "wordings-0-description": "",
        "wordings-1-language": "",
        "wordings-1-name": "",
        "wordings-2-language": "ua",
        "wordings-2-name": "Партнерські групи",
    }
    bad = text(client.post(f"/lists/{partners.id}", fields))
    assert "did you mean uk?" in bad and 'value="Партнерські групи"' in bad
    db.session.expire_all()
    assert db.session.get(MailingList, partners.id).translations["uk"]["name"] == (
        "Колективи-партнери"
    )
    fields["wordings-2-language"] = "es"
    client.post(f"/lists/{partners.id}", fields, follow_redirects=True)
    db.session.expire_all()
    assert db.session.get(MailingList, partners.id).translations == {
        "uk": {"name": "Партнери", "description": ""},
        "es": {"name": "Партнерські групи", "description": ""},
    }
