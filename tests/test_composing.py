"""Composing a multilingual campaign: every reader's language, fallbacks as written, the
language table before sending, filters, personalisation, and premailer once per variant."""

from __future__ import annotations

import time

import pytest
from flask import current_app
from sqlalchemy import select

import emails.rendering as rendering_module
from app.campaigns import drafts, lifecycle, readiness
from app.delivery import ledger
from app.delivery.sending import BatchSender
from app.delivery.smtp import close_all
from app.demo import _read_call
from app.errors import InvalidInput
from app.extensions import db
from app.models import Campaign, Delivery, DeliveryStatus
from tests.support.factories import (
    make_campaign,
    make_group,
    make_list,
    make_subscriber,
    make_subscribers,
)
from tests.support.messages import build_for
from tests.support.smtp import recipients

CALL_LANGUAGES = ("en", "uk", "es", "fr", "de")


def test_every_language_of_the_call_reaches_its_readers_as_written(app):
    partners = make_list("partners", "Partner collectives")
    campaign = drafts.create_campaign("Week of action", lists=[partners])
    for language in CALL_LANGUAGES:
        subject, preheader, body = _read_call(language)
        drafts.save_variant(campaign.id, language, subject=subject, preheader=preheader, body=body)
    drafts.save_variant(campaign.id, "ar", subject="أسبوع العمل", body="مرحبا {{ name }}")
    for language in (*CALL_LANGUAGES, "ar"):
        reader = make_subscriber(
            f"reader-{language}@example.org", language=language, name="Nadia", lists=[partners]
        )
        message = build_for(campaign, reader)
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert message["Content-Language"] == language
        if language == "ar":
            assert message["Subject"] == "أسبوع العمل"
            assert 'dir="rtl"' in html and 'lang="ar"' in html
            continue
        subject, _preheader, body = _read_call(language)
        assert message["Subject"] == subject
        assert f'lang="{language}"' in html and 'dir="ltr"' in html
        assert "Nadia" in text and "Nadia" in html
        first_words = body.split("\n\n")[1].split()[:4]  # the paragraph after the greeting
        assert " ".join(first_words) in " ".join(text.split())
        assert "{{" not in html and "{{" not in text


def test_fallback_chains_resolve_as_written_and_never_jump_languages(app):
    partners = make_list()
    for email, language in [
        ("a@example.org", "pt-BR"),
        ("b@example.org", "pt"),
        ("c@example.org", "uk"),
        ("d@example.org", "ru"),
        ("e@example.org", "es-AR"),
    ]:
        make_subscriber(email, language=language, lists=[partners])
    campaign = make_campaign(
        {"en": "Hello", "es": "Hola", "ru": "Привет"},
        lists=[partners],
        fallbacks=["pt", "es", "en"],
    )
    plan = {row.language: row.gets for row in readiness.language_plan(campaign)}
    assert plan == {"pt-BR": "es", "pt": "es", "uk": "es", "ru": "ru", "es-AR": "es"}
    # uk reaches es only because the chain says so; with no chain it gets the default.
    plain = make_campaign({"en": "Hello", "ru": "Привет"}, lists=[partners])
    assert {r.language: r.gets for r in readiness.language_plan(plain)}["uk"] == "en"


def test_the_language_table_counts_fallbacks_and_variants_that_are_not_ready(app):
    partners = make_list()
    make_subscribers(3, lists=[partners], prefix="uk", language="uk")
    make_subscribers(2, lists=[partners], prefix="pl", language="pl")
    make_subscribers(1, lists=[partners], prefix="en", language="en")
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    drafts.save_variant(campaign.id, "uk", subject="Привіт", body="Текст", ready=False)
    rows = {row.language: row for row in readiness.language_plan(campaign)}
    assert (rows["uk"].recipients, rows["uk"].gets, rows["uk"].waits_for_variant) == (3, "en", True)
    assert (rows["pl"].recipients, rows["pl"].falls_back, rows["pl"].waits_for_variant) == (
        2,
        True,
        False,
    )
    assert not rows["en"].falls_back


def test_sending_with_a_variant_not_ready_asks_for_an_explicit_choice(app):
    partners = make_list()
    make_subscribers(3, lists=[partners], prefix="uk", language="uk")
    make_subscribers(2, lists=[partners], prefix="en", language="en")
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    drafts.save_variant(campaign.id, "uk", subject="Привіт", body="Текст", ready=False)
    with pytest.raises(InvalidInput, match="3 in uk.*hold them or to send them the fallback"):
        lifecycle.start_sending(campaign.id)
    with pytest.raises(InvalidInput, match="hold or fallback, not 'later'"):
        lifecycle.start_sending(campaign.id, "later")
    assert db.session.scalars(select(Delivery)).all() == []  # nothing half-started

    assert lifecycle.start_sending(campaign.id, "hold") == 5
    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
    held = [r for r in rows if r.status == DeliveryStatus.SKIPPED]
    assert len(held) == 3 and all(r.smtp_reply == ledger.HELD_REPLY for r in held)
    assert sum(r.status == DeliveryStatus.QUEUED for r in rows) == 2


def test_fallback_choice_queues_everyone(app):
    partners = make_list()
    make_subscribers(3, lists=[partners], prefix="uk", language="uk")
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    drafts.save_variant(campaign.id, "uk", subject="Привіт", body="Текст", ready=False)
    assert lifecycle.start_sending(campaign.id, "fallback") == 3
    statuses = db.session.scalars(select(Delivery.status)).all()
    assert set(statuses) == {DeliveryStatus.QUEUED}


def test_filters_narrow_the_audience_by_language_country_and_group(app):
    partners = make_list()
    kyiv = make_group("Kyiv mutual aid", country="UA")
    madrid = make_group("Madrid solidarity", country="ES")
    make_subscriber("a@example.org", language="uk", lists=[partners], group=kyiv)
    make_subscriber("b@example.org", language="es", lists=[partners], group=madrid)
    make_subscriber("c@example.org", language="pt-BR", lists=[partners], country="BR")
    make_subscriber("d@example.org", language="en", lists=[partners], country="ua")
    make_subscriber("e@example.org", language="pt", lists=[partners], group=madrid, country="PT")

    def audience(**filters):
        campaign = make_campaign({"en": "Hello"}, lists=[partners], filters=filters)
        return sorted(
            db.session.scalars(select(Subscriber_email()).where(ledger.audience_of(campaign))).all()
        )

    assert audience(languages=["pt"]) == ["c@example.org", "e@example.org"]
    assert audience(countries=["ua"]) == ["a@example.org", "d@example.org"]
    assert audience(countries=["ES"]) == ["b@example.org"]  # e's own country wins
    assert audience(groups=[madrid.id]) == ["b@example.org", "e@example.org"]
    assert audience(groups=[madrid.id], languages=["es"]) == ["b@example.org"]
    assert len(audience()) == 5


def Subscriber_email():  # noqa: N802 - reads like the column it returns
    from app.models import Subscriber

    return Subscriber.email


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"language": ["uk"]}, "unknown filter language"),
        ({"languages": ["not a tag"]}, "not a language tag"),
        ({"countries": ["Ukraine"]}, "two-letter codes"),
        ({"groups": [999]}, "no group with id 999"),
        ({"groups": ["Kyiv"]}, "groups are given by id"),
    ],
)
def test_bad_filters_are_refused_clearly(app, filters, message):
    with pytest.raises(InvalidInput, match=message):
        drafts.create_campaign("X", lists=[make_list()], filters=filters)


def test_personal_values_and_links_reach_subject_body_and_attributes(app):
    partners = make_list()
    kyiv = make_group("Kyiv mutual aid", country="UA")
    reader = make_subscriber(
        "olena@example.org", language="uk", name="Олена", lists=[partners], group=kyiv
    )
    reader.attributes = {"city": "Львів"}
    db.session.commit()
    campaign = make_campaign(
        {
            "uk": (
                "{{ name }}, {{ group }}: тиждень дій",
                '<table><tr><td class="x"><a href="{{ report_url }}">звіт</a></td></tr></table>\n\n'
                "{% if attributes.city %}Місто: {{ attributes.city }}{% endif %} "
                "({{ country }}, {{ language }}) "
                "[налаштування]({{ preferences_url }}) [архів]({{ archive_url }})",
            ),
            "en": "Hello",
        },
        lists=[partners],
        archive=True,
    )
    message = build_for(campaign, reader)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert message["Subject"] == "Олена, Kyiv mutual aid: тиждень дій"
    assert "Місто: Львів" in text and "(UA, uk)" in text
    base = current_app.config["BASE_URL"].rstrip("/")
    assert f'href="{base}/r/' in html and f'href="{base}/p/' in html
    assert f"{base}/archive/{campaign.uid}/uk" in html
    assert "{{" not in html and "%7B" not in html


def test_header_injection_through_any_personal_value_adds_no_header(app):
    partners = make_list()
    reader = make_subscriber("ann@example.org", lists=[partners], name="Ann")
    reader.name = "Ann\r\nBcc: victim@example.org"
    reader.attributes = {"x": "a\r\nX-Injected: 1\x00"}
    db.session.commit()
    campaign = make_campaign({"en": ("Hi {{ name }} {{ attributes.x }}", "Body")}, lists=[partners])
    # The settings refuse such a sender; one stored before they did is still made harmless.
    campaign.from_address = "Organisers\r\nBcc: x@example.org <news@example.org>"
    db.session.commit()
    message = build_for(campaign, reader)
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in str(message["Subject"]) and "\x00" not in str(message["Subject"])
    assert message["To"].addresses[0].addr_spec == "ann@example.org"


def test_premailer_runs_once_per_variant_for_a_thousand_recipients(app, smtp, monkeypatch):
    partners = make_list()
    emails = [
        *make_subscribers(400, lists=[partners], prefix="en", language="en"),
        *make_subscribers(300, lists=[partners], prefix="uk", language="uk"),
        *make_subscribers(300, lists=[partners], prefix="es", language="es"),
    ]
    campaign = make_campaign({"en": "Hello", "uk": "Привіт", "es": "Hola"}, lists=[partners])
    calls = []
    real = rendering_module.Premailer

    class Counting(real):  # type: ignore[misc, valid-type]
        def transform(self, *args, **kwargs):
            calls.append(1)
            return super().transform(*args, **kwargs)

    lifecycle.start_sending(campaign.id)  # checks each variant once before it starts
    monkeypatch.setattr(rendering_module, "Premailer", Counting)
    ids = db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id)).all()
    try:  # a batch hands rows back before its (short, in tests) lease ends: claim until done
        while claimed := ledger.claim(ledger.Batch(campaign.id, min(ids), max(ids))):
            BatchSender(db.session.get(Campaign, campaign.id), current_app.config).run(claimed)
    finally:
        close_all()
    # A worker left running by an earlier test may have taken rows handed back; wait for it.
    deadline = time.monotonic() + 60
    while len(smtp.messages) < len(emails) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(recipients(smtp.messages)) == sorted(emails)
    assert len(calls) == 3
