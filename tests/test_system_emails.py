"""System emails: built-in wording in six languages, editable per language, sandboxed, and
the goodbye email sent through the worker when a person (not a mail client) unsubscribes."""

from __future__ import annotations

import time
from email import policy
from email.parser import BytesParser

import pytest
from flask import current_app
from sqlalchemy import select

from app.audience import subscriptions
from app.errors import InvalidInput
from app.extensions import db
from app.messages import outbox, system_emails
from app.messages.system_emails import Kind
from app.models import OutboxMessage
from app.tokens import tokens
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.messages import unsubscribe_path
from tests.support.panel import Client


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", system_emails.SHIPPED_LANGUAGES)
def test_every_built_in_wording_renders(app, kind, language):
    values = {**system_emails.sample_values(kind, language), "name": "Ana"}
    outgoing = system_emails.build(kind, language, "ana@example.org", values, current_app.config)
    message = BytesParser(policy=policy.default).parsebytes(outgoing.data)
    assert message["Content-Language"] == language
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None
    text = message.get_body(("plain",)).get_content()
    assert "Ana" in text and "Partner collectives" in text and "{{" not in text
    if kind is Kind.CONFIRM:
        assert "https://example.invalid/c/sample" in text
        assert "https://example.invalid/c/sample" in message.get_body(("html",)).get_content()


def test_a_reader_gets_their_language_else_its_primary_else_english(app):
    assert system_emails.wording(Kind.GOODBYE, "uk").subject.startswith("Ви відписалися")
    assert system_emails.wording(Kind.GOODBYE, "de-AT").language == "de"
    assert system_emails.wording(Kind.GOODBYE, "ka").language == "en"
    system_emails.save(Kind.GOODBYE, "ka", "ნახვამდის {{ lists }}", "ნახვამდის, {{ name }}")
    assert system_emails.wording(Kind.GOODBYE, "ka").custom
    system_emails.save(Kind.GOODBYE, "uk", "Бувайте", "До зустрічі, {{ name | default('') }}")
    assert system_emails.wording(Kind.GOODBYE, "uk-UA").subject == "Бувайте"
    system_emails.reset(Kind.GOODBYE, "uk")
    assert not system_emails.wording(Kind.GOODBYE, "uk").custom


def test_without_a_wording_for_their_language_the_lists_language_comes_before_english(app):
    assert system_emails.wording(Kind.GOODBYE, "pt-BR", "uk").language == "uk"
    assert system_emails.wording(Kind.GOODBYE, "pt-BR", "es-MX").language == "es"
    assert system_emails.wording(Kind.GOODBYE, "de-AT", "uk").language == "de"
    assert system_emails.wording(Kind.GOODBYE, "pt-BR", "ka").language == "en"
    assert system_emails.wording(Kind.GOODBYE, "pt-BR").language == "en"


def test_confirm_and_goodbye_mails_fall_back_to_the_first_lists_language(app):
    first = make_list(default_language="uk")
    second = make_list(default_language="de")
    maria = make_subscriber("maria@example.org", language="pt-BR", lists=[first, second])
    ana = make_subscriber("ana@example.org", language="pt-BR", lists=[second, first])
    subscriptions.request_confirmation(maria, [second, first])
    db.session.commit()
    campaign = make_campaign({"en": "Hello"}, lists=[second, first])
    client = app.test_client()
    client.post(unsubscribe_path(campaign, maria))  # the unsubscribe page's button
    client.post(f"/p/{tokens().preferences(ana.uid)}", data={"action": "leave"})
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(r.kind.value, r.to_address) for r in rows] == [
        ("confirm", "maria@example.org"),
        ("goodbye", "maria@example.org"),
        ("goodbye", "ana@example.org"),
    ]
    parser = BytesParser(policy=policy.default)
    kinds = {row.id: Kind(row.kind.value) for row in rows}
    for prepared in outbox.prepare(list(kinds), current_app.config):
        message = parser.parsebytes(prepared.message.data)
        wanted = system_emails.wording(kinds[prepared.row_id], "uk")
        assert message["Content-Language"] == "uk"
        assert message["Subject"].startswith(wanted.subject.split("{{")[0])


@pytest.mark.parametrize(
    ("kind", "subject", "body", "message"),
    [
        (Kind.GOODBYE, "Bye", "{{ confirm_url }}", "unknown value confirm_url"),
        (Kind.CONFIRM, "Hi", "{{ config }}", "unknown value config"),
        (Kind.CONFIRM, "Hi {{ name", "Body", "subject"),
        (Kind.CONFIRM, "", "Body", "needs a subject and a body"),
    ],
)
def test_broken_wording_is_refused_and_nothing_saved(app, kind, subject, body, message):
    with pytest.raises(InvalidInput, match=message):
        system_emails.save(kind, "en", subject, body)
    assert not system_emails.wording(kind, "en").custom


def test_the_panel_edits_previews_and_resets_a_wording(app):
    from app.accounts import users

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = Client(app)
    listing = client.get("/system-emails").get_data(as_text=True)
    assert "Підтвердіть підписку" in listing and "built-in" in listing
    page = client.get("/system-emails/confirm/pl").get_data(as_text=True)
    assert "Tak, zapisz mnie" in page and "sandbox srcdoc=" in page
    saved = client.post(
        "/system-emails/confirm/pl",
        data={"subject": "Potwierdź", "body": "[Klik]({{ confirm_url }})"},
    )
    assert saved.status_code == 302
    assert system_emails.wording(Kind.CONFIRM, "pl").subject == "Potwierdź"
    client.post("/system-emails/confirm/pl/reset")
    assert not system_emails.wording(Kind.CONFIRM, "pl").custom
    assert client.get("/system-emails/nonsense/pl").status_code == 404


@pytest.mark.slow
def test_a_person_who_unsubscribes_gets_one_goodbye_in_their_language(app, run_worker, smtp):
    partners = make_list("partners", "Partner collectives")
    olena = make_subscriber("olena@example.org", language="uk", name="Олена", lists=[partners])
    ann = make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Hello", "uk": "Привіт"}, lists=[partners])
    client = app.test_client()
    client.post(unsubscribe_path(campaign, olena))  # the button on the page
    client.post(unsubscribe_path(campaign, olena))  # again: nothing more
    client.post(  # a mail client's one-click: no goodbye
        unsubscribe_path(campaign, ann), data={"List-Unsubscribe": "One-Click"}
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not smtp.messages:
        time.sleep(0.1)
    time.sleep(1.5)  # room for a wrong second message to arrive
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["olena@example.org"]
    goodbye = smtp.messages[0]
    assert goodbye["Subject"] == "Ви відписалися: Partner collectives"
    assert "Олена" in goodbye.get_body(("plain",)).get_content()
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1
