"""Previews and test sends never carry a real reader's working token, for any role and any
recipient: every token found in a preview page or a test message (links in the HTML and
text parts, List-Unsubscribe, Message-ID, the envelope sender) is tried on every public
route, GET and POST, and the reader is unchanged afterwards."""

from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import select

from app.accounts import users
from app.extensions import db
from app.messages import outbox, previews
from app.models import OutboxMessage, OutboxStatus, Report, Subscriber, Subscription, Suppression
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.panel import csrf_token

BODY = (
    "Hi {{ name }}. [Change your settings]({{ preferences_url }}), "
    "[tell us]({{ report_url }}), [leave]({{ unsubscribe_url }}), "
    "[archive]({{ archive_url }})."
)
URL = re.compile(r"(?:https?|mailto):[^\s\"'<>)]+")


def candidates(*texts: str) -> set[str]:
    """Every piece of every URL or address in the texts that could be a token."""
    found: set[str] = set()
    for raw in texts:
        text = html.unescape(html.unescape(raw))
        for url in URL.findall(text):
            found.update(p for p in re.split(r"[/?=&@<>\s]|%20", url) if len(p) >= 8)
        for address in re.findall(r"<?([^\s<>@\"']+)@[\w.-]+>?", text):
            found.update(p for p in re.split(r"[+]", address) if len(p) >= 8)
    return found


def state() -> tuple:
    """Everything a public route could change about the audience."""
    db.session.expire_all()
    readers = db.session.execute(
        select(
            Subscriber.email,
            Subscriber.email_hash,
            Subscriber.name,
            Subscriber.language,
            Subscriber.status,
        ).order_by(Subscriber.id)
    ).all()
    subscriptions = db.session.execute(
        select(Subscription.subscriber_id, Subscription.list_id, Subscription.status).order_by(
            Subscription.id
        )
    ).all()
    suppressed = db.session.scalars(select(Suppression.email_hash)).all()
    reports = db.session.scalars(select(Report.id)).all()
    return readers, subscriptions, suppressed, reports


def try_everywhere(app, tokens: set[str]) -> None:
    """Use each token on every public route, as an attacker would; nothing may change."""
    before = state()
    http = app.test_client()
    for token in sorted(tokens):
        attempts = [
            ("GET", f"/u/{token}", {}),
            ("POST", f"/u/{token}", {}),
            ("POST", f"/u/{token}", {"List-Unsubscribe": "One-Click"}),
            ("GET", f"/p/{token}", {}),
            ("POST", f"/p/{token}", {"action": "save", "name": "Renamed", "language": "de"}),
            ("POST", f"/p/{token}", {"action": "leave"}),
            ("POST", f"/p/{token}", {"action": "erase", "confirm": "yes"}),
            ("GET", f"/p/{token}/data.json", {}),
            ("GET", f"/r/{token}", {}),
            ("POST", f"/r/{token}", {"title": "Forged", "text": "Forged report"}),
            ("GET", f"/c/{token}", {}),
            ("POST", f"/c/{token}", {}),
        ]
        for method, path, data in attempts:
            response = http.open(path, method=method, data=data)
            assert response.status_code != 500, path
            if path.endswith("data.json"):
                assert response.mimetype != "application/json", path
            assert state() == before, f"{method} {path} changed the audience"


@pytest.fixture()
def audience(app):
    partners = make_list("partners")
    olena = make_subscriber("olena@example.org", name="Olena", language="uk", lists=[partners])
    campaign = make_campaign(
        {"en": ("Week of action", BODY), "uk": ("Тиждень дій", BODY)},
        lists=[partners],
        archive=True,
    )
    return campaign, olena


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_a_preview_as_a_real_reader_holds_no_token_that_works(app, audience, role):
    campaign, olena = audience
    users.create_user(f"{role}@example.org", "correct horse battery", role)
    panel = app.test_client()
    panel.post(
        "/login",
        data={
            "email": f"{role}@example.org",
            "password": "correct horse battery",
            "csrf_token": csrf_token(panel, "/login"),
        },
    )
    pages = [
        panel.get(f"/campaigns/{campaign.id}/preview/{language}?email={address}")
        for language in ("en", "uk")
        for address in ("olena@example.org", "")
    ]
    assert all(page.status_code == 200 for page in pages)
    if role == "viewer":  # viewers see counts, not people: the sample reader instead
        assert "Olena" not in pages[0].get_data(as_text=True)
    else:
        assert "Olena" in pages[0].get_data(as_text=True)  # it is her preview, links aside
    found = candidates(*(page.get_data(as_text=True) for page in pages))
    assert any("preview" in t for t in found)  # the links are there, and say what they are
    try_everywhere(app, found)


def test_a_preview_says_its_links_work_in_the_real_message(app, audience):
    campaign, _olena = audience
    shown = previews.preview(campaign, "uk", "olena@example.org")
    links = set(re.findall(r"https://news\.example\.org/preview-link/\w+", shown.text))
    assert {link.rsplit("/", 1)[1] for link in links} == {"unsubscribe", "preferences", "report"}
    page = app.test_client().get(links.pop().removeprefix("https://news.example.org"))
    assert page.status_code == 200
    assert "real message" in page.get_data(as_text=True)
    assert app.test_client().get("/preview-link/anything-else").status_code == 404
    message_id = dict(shown.headers)["Message-ID"]
    again = dict(previews.preview(campaign, "uk", "olena@example.org").headers)["Message-ID"]
    assert message_id != again  # random each time: not the real message's
    assert message_id.startswith("<preview.")


@pytest.mark.slow
def test_a_test_send_to_a_real_readers_address_holds_no_token_that_works(
    app, audience, run_worker, smtp
):
    campaign, _olena = audience
    outbox.queue_test_sends(campaign, ["olena@example.org", "editor@example.org"], [])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.expire_all()
        rows = db.session.scalars(select(OutboxMessage)).all()
        if all(r.status in (OutboxStatus.SENT, OutboxStatus.FAILED) for r in rows):
            break
        time.sleep(0.1)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert len(smtp.messages) == 4
    texts = [raw.decode("utf-8", "replace") for raw in smtp.raw_messages]
    texts += [m.get_body(("plain",)).get_content() for m in smtp.messages]
    texts += [m.get_body(("html",)).get_content() for m in smtp.messages]
    texts += [f"<{e.mail_from}>" for e in smtp.envelopes]
    found = candidates(*texts)
    assert any(t.startswith("preview.") for t in found)  # Message-ID and VERP are inert too
    try_everywhere(app, found)
