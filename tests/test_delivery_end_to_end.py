"""The whole path: start sending, a real Celery worker process, a real SMTP server."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import select

from app.campaigns import drafts, lifecycle
from app.extensions import db
from app.models import Delivery, DeliveryStatus
from tests.support.factories import make_campaign, make_list, make_subscriber

pytestmark = pytest.mark.slow

VARIANTS = {
    "en": (
        "Week of action",
        "Dear {{ name | default('friends') }},\n\nJoin the **week of action**.",
    ),
    "uk": (
        "Тиждень дій",
        "Вітаємо, {{ name | default('друзі') }}!\n\nДолучайтеся до **тижня дій**.",
    ),
    "es": ("Semana de acción", "Hola, {{ name | default('amigos') }}.\n\nÚnete a la **semana**."),
    "fr": ("Semaine d'action", "Bonjour {{ name | default('les ami·es') }},\n\nRejoignez-nous."),
}


def test_each_subscriber_gets_their_own_language_exactly_once(app, run_worker, smtp):
    partners = make_list("partners", "Partner collectives")
    people = {
        "ann@example.org": ("en", "Ann"),
        "olena@example.org": ("uk", "Олена"),
        "lucia@example.org": ("es", ""),
        "chloe@example.org": ("fr", "Chloé"),
        "maria@example.org": ("pt-BR", "Maria"),  # no variant: the default (en)
        "jan@example.org": ("pl", ""),  # no variant: the default (en)
    }
    for email, (language, name) in people.items():
        make_subscriber(email, language=language, name=name, lists=[partners])
    campaign = make_campaign(VARIANTS, lists=[partners])

    assert lifecycle.start_sending(campaign.id) == len(people)
    run_worker.until_sent(campaign.id)

    received = smtp.messages
    recipients = Counter(m["To"].addresses[0].addr_spec for m in received)
    assert recipients == Counter(people.keys()), "everyone exactly once"
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in received}
    expected_language = {
        "ann@example.org": "en",
        "olena@example.org": "uk",
        "lucia@example.org": "es",
        "chloe@example.org": "fr",
        "maria@example.org": "en",
        "jan@example.org": "en",
    }
    for email, language in expected_language.items():
        message = by_recipient[email]
        assert message["Content-Language"] == language
        assert message["Subject"] == VARIANTS[language][0]
    assert "Вітаємо, Олена!" in by_recipient["olena@example.org"].get_body(("plain",)).get_content()
    assert "Hola, amigos." in by_recipient["lucia@example.org"].get_body(("plain",)).get_content()

    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(r.attempts == 1 and r.smtp_reply.startswith("250") for r in rows)
    assert {r.message_id for r in rows} == {str(m["Message-ID"]) for m in received}


def test_delivered_message_has_list_headers_inlined_html_and_text(app, run_worker, smtp):
    partners = make_list("partners", "Partner collectives")
    make_subscriber("olena@example.org", language="uk", name="Олена", lists=[partners])
    campaign = make_campaign(VARIANTS, lists=[partners])
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)

    [message] = smtp.messages
    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["olena@example.org"]
    assert message["From"].addresses[0].addr_spec == "news@example.org"
    assert message["List-Id"] == "<partners.example.org>"
    unsubscribe = str(message["List-Unsubscribe"])
    https_uri, mailto = [part.strip(" <>") for part in unsubscribe.split(",")]
    assert https_uri.startswith("https://news.example.org/u/")
    assert mailto.startswith("mailto:unsubscribe@example.org?subject=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<[a-z2-7]{32}@example\.org>", str(message["Message-ID"]))
    assert message["Content-Language"] == "uk"
    assert message.get_content_type() == "multipart/alternative"

    html = message.get_body(("html",)).get_content()
    assert '<html lang="uk" dir="ltr">' in html
    assert re.search(r'<td class="content" style="[^"]*padding:28px 32px', html), "CSS inlined"
    assert f'href="{https_uri}"' in html, "the footer links to the same unsubscribe URL"
    assert "<strong>тижня дій</strong>" in html
    text = message.get_body(("plain",)).get_content()
    assert "**тижня дій**" in text and https_uri in text


def test_pressing_send_twice_sends_once(app, run_worker, smtp):
    partners = make_list("partners", "Partner collectives")
    for number in range(20):
        make_subscriber(f"member{number}@example.org", lists=[partners])
    campaign = make_campaign({"en": "Once only"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    with pytest.raises(drafts.Conflict):
        lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)
    recipients = [m["To"].addresses[0].addr_spec for m in smtp.messages]
    assert sorted(recipients) == sorted(f"member{n}@example.org" for n in range(20))
