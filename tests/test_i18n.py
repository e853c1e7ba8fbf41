"""Public pages speak the reader's language (Flask-Babel), and the catalogues are complete."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import force_locale, gettext

from app.i18n import PUBLIC_LANGUAGES
from app.readers import archive
from app.tokens import tokens
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.messages import unsubscribe_path

TRANSLATIONS = Path(__file__).parent.parent / "app" / "translations"
CATALOGUED = [language for language in PUBLIC_LANGUAGES if language != "en"]
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted(tmp_path: Path) -> set[str]:
    """Extract the strings as `make translations` does, into a temporary catalogue."""
    root = TRANSLATIONS.parent.parent
    pot = tmp_path / "messages.pot"
    arguments = ["-F", str(root / "babel.cfg"), "-k", "_", "-k", "gettext", "-k", "N_"]
    CommandLineInterface().run(["pybabel", "-q", "extract", *arguments, "-o", str(pot), str(root)])
    with pot.open("rb") as handle:
        ids = {m.id for m in read_po(handle) if m.id}
    assert "Unsubscribe" in ids and len(ids) > 30, "extraction found too little"
    return ids


@pytest.mark.parametrize("language", CATALOGUED)
def test_each_catalogue_translates_every_string_and_keeps_its_placeholders(tmp_path, language):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id}
    assert extracted(tmp_path) <= set(translated), "run `make translations` and translate"
    compiled = Translations.load(str(TRANSLATIONS), [language])
    for source, target in translated.items():
        assert target, f"{language}: {source!r} has no translation"
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(target))
        assert compiled.gettext(source) == target, "the .mo is stale: run `make translations`"


def test_a_page_speaks_the_subscribers_language_whatever_the_browser_says(app):
    partners = make_list()
    olena = make_subscriber("olena@example.org", language="uk-UA", lists=[partners])
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    page = app.test_client().get(
        unsubscribe_path(campaign, olena), headers={"Accept-Language": "de"}
    )
    html = page.get_data(as_text=True)
    assert "Відписатися" in html and 'lang="uk' in html


def test_without_a_catalogue_for_their_language_the_browser_decides_then_english(app):
    partners = make_list()
    maria = make_subscriber("maria@example.org", language="pt-BR", lists=[partners])
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    client = app.test_client()
    spanish = client.get(
        unsubscribe_path(campaign, maria), headers={"Accept-Language": "pt-BR, es;q=0.8"}
    )
    assert "Darse de baja" in spanish.get_data(as_text=True)
    english = client.get(unsubscribe_path(campaign, maria), headers={"Accept-Language": "ka"})
    assert ">Unsubscribe<" in english.get_data(as_text=True)


def test_an_invalid_link_is_explained_in_the_browsers_language(app):
    page = app.test_client().get("/u/forged", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.status_code == 400
    assert "Ce lien n'est pas valide" in page.get_data(as_text=True).replace("&#39;", "'")


@pytest.mark.parametrize(
    ("browser", "expected"),
    [
        ("uk-UA,en;q=0.5", "Це посилання недійсне"),  # Ukrainian (Ukraine) first, English last
        ("fr-CA, de;q=0.9", "Ce lien n'est pas valide"),  # French first, even if regional
        ("de, fr", "Dieser Link ist ungültig"),  # equally wanted: the first named
    ],
)
def test_the_browsers_first_language_with_a_catalogue_wins(app, browser, expected):
    page = app.test_client().get("/u/forged", headers={"Accept-Language": browser})
    assert page.status_code == 400
    assert expected in html.unescape(page.get_data(as_text=True))


def test_the_panel_stays_in_english(app):
    page = app.test_client().get("/login", headers={"Accept-Language": "uk"})
    assert "Log in" in page.get_data(as_text=True) or "Email" in page.get_data(as_text=True)


def title_of(page) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", page.get_data(as_text=True)).group(1))


def translated(text: str, language: str) -> str:
    with force_locale(language):
        return gettext(text)


@pytest.mark.parametrize(("browser", "expected"), [(None, "uk"), ("es", "es"), ("ka", "uk")])
def test_without_their_language_the_browser_decides_then_the_lists_language(app, browser, expected):
    first = make_list(default_language="uk")
    second = make_list(default_language="de")  # a later list does not decide
    maria = make_subscriber("maria@example.org", language="pt-BR", lists=[first, second])
    campaign = make_campaign({"en": "Hello"}, lists=[second, first])
    pages = {
        unsubscribe_path(campaign, maria): "Unsubscribe",
        f"/p/{tokens().preferences(maria.uid)}": "Your subscription",
        f"/r/{tokens().report(maria.uid, campaign.uid)}": "Tell us about your action",
        f"/c/{tokens().confirm(maria.uid, [second.id, first.id])}": "Confirm your subscription",
    }
    client = app.test_client()
    headers = {"Accept-Language": browser} if browser else {}
    for path, title in pages.items():
        page = client.get(path, headers=headers)
        assert page.status_code == 200, path
        assert title_of(page) == translated(title, expected), path


def test_a_confirmation_speaks_the_lists_language_and_a_listless_reader_gets_english(app):
    ukrainian = make_list(default_language="uk")
    maria = make_subscriber("maria@example.org", language="pt-BR", lists=[])
    client = app.test_client()
    done = client.post(f"/c/{tokens().confirm(maria.uid, [ukrainian.id])}")
    assert title_of(done) == translated("Confirm your subscription", "uk")
    preferences = client.get(f"/p/{tokens().preferences(maria.uid)}")
    assert title_of(preferences) == "Your subscription"


def test_public_error_pages_are_translated_and_keep_their_status(app, monkeypatch):
    client = app.test_client()
    missing = client.get("/s/no-such-list", headers={"Accept-Language": "uk"})
    assert missing.status_code == 404
    assert title_of(missing) == translated("Page not found", "uk") == "Сторінку не знайдено"
    assert 'lang="uk"' in missing.get_data(as_text=True)
    not_routed = client.get("/u/a/b", headers={"Accept-Language": "pl"})
    assert not_routed.status_code == 404 and title_of(not_routed) == "Nie znaleziono strony"
    wrong = client.put("/s/no-such-list", headers={"Accept-Language": "de"})
    assert wrong.status_code == 405 and title_of(wrong) == translated("Not allowed", "de")
    assert "POST" in wrong.headers["Allow"]

    # The view knew the reader and their list before it refused the request.
    ukrainian = make_list(default_language="uk")
    maria = make_subscriber("maria@example.org", language="pt-BR", lists=[ukrainian])
    odd = client.post(f"/p/{tokens().preferences(maria.uid)}", data={"action": "dance"})
    assert odd.status_code == 400 and title_of(odd) == translated("Bad request", "uk")

    def broken(_language):
        raise RuntimeError("the archive is unreadable")

    monkeypatch.setattr(archive, "entries", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    failed = client.get("/archive/es/", headers={"Accept-Language": "fr"})
    assert failed.status_code == 500
    assert title_of(failed) == translated("Something went wrong", "es")


def test_the_panels_error_pages_are_its_own_in_english(app):
    from app.accounts import users
    from tests.support.panel import Client

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    missing = Client(app).get("/lists/999999/sign-up", headers={"Accept-Language": "uk"})
    assert missing.status_code == 404 and title_of(missing) == "Page not found · Tocsin"
    unknown = app.test_client().get("/no-such-page", headers={"Accept-Language": "uk"})
    assert unknown.status_code == 404 and title_of(unknown) == "Page not found · Tocsin"
