"""Preference and report-back links have a lifetime (the day they were issued is in the
token); an expired or old-format link offers a form that sends a fresh one. The form
answers the same for every address; the worker sends the link, in the reader's language,
at most once a day. The one-click unsubscribe link never expires."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import event, func, select

from app.audience import subscriptions, suppressions
from app.extensions import db
from app.messages import outbox
from app.messages.composing import MessageFactory, recipient_of
from app.models import (
    LinkRequest,
    OutboxKind,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from app.models.base import utcnow
from app.readers import fresh_links
from app.tokens import LINK_LIFETIME_DAYS, issue_day, tokens
from tests.support.factories import make_campaign, make_list, make_subscriber

SECRET = "test-secret-key-that-is-long-enough"  # what tests/conftest.py sets
BASE = "https://news.example.org"


def old_format(uid: str) -> str:
    """A preference token as sent before links had a lifetime."""
    digest = hmac.new(SECRET.encode(), f"preferences:{uid}".encode(), hashlib.sha256).digest()
    return f"{uid}.{base64.urlsafe_b64encode(digest[:16]).rstrip(b'=').decode()}"


def offers_a_fresh_link(response) -> bool:
    page = response.get_data(as_text=True)
    return response.status_code == 410 and 'action="/p/new-link"' in page


@pytest.fixture()
def partners(app):
    return make_list("partners")


@pytest.fixture()
def reader(partners):
    return make_subscriber("olena@example.org", name="Olena", language="uk", lists=[partners])


def test_a_preference_link_works_for_its_lifetime_then_offers_a_fresh_one(app, reader):
    http = app.test_client()
    today = issue_day(utcnow())
    last_day = tokens().preferences(reader.uid, today - LINK_LIFETIME_DAYS)
    expired = tokens().preferences(reader.uid, today - LINK_LIFETIME_DAYS - 1)
    assert http.get(f"/p/{last_day}").status_code == 200
    for method, path in [
        ("GET", f"/p/{expired}"),
        ("POST", f"/p/{expired}"),
        ("GET", f"/p/{expired}/data.json"),
        ("GET", f"/p/{old_format(reader.uid)}"),
        ("POST", f"/p/{old_format(reader.uid)}"),
    ]:
        response = http.open(path, method=method, data={"action": "leave"})
        assert offers_a_fresh_link(response), path
    db.session.expire_all()
    assert db.session.scalars(select(Subscription.status)).all() == [SubscriptionStatus.CONFIRMED]
    # A forged token is not "expired": it gets the invalid-link page, no form.
    forged = http.get(f"/p/{expired[:-2]}xx")
    assert forged.status_code == 400 and "new-link" not in forged.get_data(as_text=True)


def test_a_report_link_has_the_same_lifetime(app, reader, partners):
    campaign = make_campaign({"uk": "Тиждень"}, lists=[partners])
    http = app.test_client()
    today = issue_day(utcnow())
    fresh = tokens().report(reader.uid, campaign.uid, today - LINK_LIFETIME_DAYS)
    expired = tokens().report(reader.uid, campaign.uid, today - LINK_LIFETIME_DAYS - 1)
    assert http.get(f"/r/{fresh}").status_code == 200
    assert offers_a_fresh_link(http.post(f"/r/{expired}", data={"title": "Late", "text": "x"}))


def test_the_links_of_an_old_message_the_unsubscribe_one_still_works(app, reader):
    partners = make_list("old-news")
    db.session.add(
        Subscription(
            subscriber_id=reader.id, list_id=partners.id, status=SubscriptionStatus.CONFIRMED
        )
    )
    db.session.commit()
    campaign = make_campaign({"uk": "Давно"}, lists=[partners])
    sent = MessageFactory(campaign, app.config).build(
        recipient_of(reader), utcnow() - timedelta(days=400)
    )
    text = BytesParser(policy=policy.default).parsebytes(sent.data).get_body(("plain",))
    links = re.findall(rf"{BASE}(/[pu]/\S+)", text.get_content())
    preferences_link = next(link for link in links if link.startswith("/p/"))
    unsubscribe_link = next(link for link in links if link.startswith("/u/"))
    http = app.test_client()
    assert offers_a_fresh_link(http.get(preferences_link))
    # The unsubscribe page's own preference link is as old as the mail, not renewed.
    campaign.started_at = utcnow() - timedelta(days=400)
    db.session.commit()
    page = http.get(unsubscribe_link).get_data(as_text=True)
    renewed = re.search(r'href="(/p/[^"]+)"', page).group(1)
    assert offers_a_fresh_link(http.get(renewed))
    assert http.post(unsubscribe_link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    db.session.expire_all()
    left = db.session.scalar(select(Subscription.status).where(Subscription.list_id == partners.id))
    assert left == SubscriptionStatus.UNSUBSCRIBED


def test_asking_for_a_fresh_link_answers_the_same_for_every_address(app, reader, partners):
    subscriptions.apply_sign_up(partners, "waiting@example.org", "", "en")  # never confirmed
    make_subscriber("blocked@example.org", lists=[partners])
    suppressions.suppress_address("blocked@example.org")
    db.session.commit()
    http = app.test_client()
    answers = []
    addresses = [
        "olena@example.org",
        "Olena@Example.org",
        "nobody@example.org",
        "waiting@example.org",
        "blocked@example.org",
    ]
    for address in addresses:
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args, into=statements) -> None:
            into.append(statement.split()[0] + " " + statement.split()[2])

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = http.post("/p/new-link", data={"email": address})
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        answers.append(
            (response.status_code, sorted(response.headers.items()), response.data, statements)
        )
    assert all(answer == answers[0] for answer in answers)  # page, status, headers, work
    assert answers[0][0] == 200
    assert b"on its way" in answers[0][2]
    assert answers[0][3] == ["INSERT link_requests"]  # stored, nothing looked up

    bad = http.post("/p/new-link", data={"email": "not an address"})
    assert bad.status_code == 422
    assert (
        db.session.scalar(select(LinkRequest.id).where(LinkRequest.email == "not an address"))
        is None
    )

    # The worker's part (this process's, or the session's worker if it runs): one link, to
    # the subscriber who confirmed their address, in her language; asking again the same day
    # sends nothing more. Once a process_requests call returns, every older request is applied.
    fresh_links.process_requests()
    assert db.session.scalars(select(LinkRequest)).all() == []
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind != OutboxKind.CONFIRM)
    ).all()
    assert [(r.kind, r.to_address, r.language) for r in rows] == [
        (OutboxKind.FRESH_LINK, "olena@example.org", "uk")
    ]
    fresh_links.request_link("olena@example.org")
    fresh_links.process_requests()
    assert db.session.scalars(select(LinkRequest)).all() == []
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.FRESH_LINK)
        )
        == 1
    )

    prepared = outbox.prepare([rows[0].id], app.config)[0]
    assert prepared.problem == ""
    message = BytesParser(policy=policy.default).parsebytes(prepared.message.data)
    assert str(message["Subject"]) == "Посилання на ваші налаштування"
    link = re.search(rf"{BASE}(/p/[^\s)>]+)", message.get_body(("plain",)).get_content()).group(1)
    page = http.get(link)
    assert page.status_code == 200 and "Olena" in page.get_data(as_text=True)
    db.session.expire_all()
    assert (
        db.session.scalar(select(Subscriber.status).where(Subscriber.email == "olena@example.org"))
        == SubscriberStatus.ACTIVE
    )


def test_the_form_itself_is_translated(app):
    page = app.test_client().get("/p/new-link", headers={"Accept-Language": "pl"})
    assert page.status_code == 200
    assert "Wyślij mi nowy link" in page.get_data(as_text=True)
