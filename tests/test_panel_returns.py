"""What came back, as organisers see it: a campaign's bounces and complaints with their
rates, a subscriber's returns and "mail them again", the bounce log and its filters, and the
inbound mail shown as text that never runs."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.accounts import users
from app.audience import bounces
from app.audience.suppressions import suppress_hash
from app.extensions import db
from app.inbound import intake
from app.models import (
    BounceScore,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    ReturnEvent,
    ReturnKind,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from app.tokens import hasher
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.panel import csrf_token, flashed, login, text
from tests.support.returns import record, sent_campaign

HARD, SOFT, POLICY = ReturnKind.HARD, ReturnKind.SOFT, ReturnKind.POLICY
COMPLAINT, UNSUBSCRIBE = ReturnKind.COMPLAINT, ReturnKind.UNSUBSCRIBE


def signed_in(app, role: str):
    users.create_user(f"{role}@example.org", "correct horse battery", role)
    client = app.test_client()
    login(client, f"{role}@example.org")
    return client


def figures(page: str) -> dict[str, dict[str, str]]:
    """The campaign page's table of returns: kind -> the cells a person reads."""
    table = page[page.index('id="return-figures"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', table, re.S)
    return {
        kind: dict(re.findall(r'data-field="([\w-]+)">([^<]*)</td>', cells)) for kind, cells in rows
    }


def by_language(page: str) -> dict[str, tuple[str, str]]:
    table = page[page.index('id="return-languages"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<tr data-language="([\w-]+)">(.*?)</tr>', table, re.S)
    return {
        language: (
            re.search(r'data-field="bounced">(\d+)', cells).group(1),
            re.search(r'data-field="complained">(\d+)', cells).group(1),
        )
        for language, cells in rows
    }


# --- A campaign's figures --------------------------------------------------------------------


def test_the_campaign_page_counts_each_kind_with_its_rate_over_the_messages_sent(app, client):
    sent = sent_campaign({"en": 991, "uk": 10})
    cid = sent.campaign_id
    # One English message was refused while sending: never sent, so out of the rates.
    refused_subscriber, refused_delivery = sent.pick("en", 990)
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == refused_delivery)
        .values(status=DeliveryStatus.FAILED_PERM)
    )
    db.session.commit()
    record(
        refused_subscriber,
        HARD,
        source="send",
        campaign_id=cid,
        delivery_id=refused_delivery,
        status_code="5.1.1",
        mark_delivery=False,
    )
    for language, n, kind, code in [
        ("en", 0, HARD, "5.1.1"),
        ("en", 1, HARD, "5.1.1"),
        ("uk", 0, HARD, "5.2.1"),
        ("en", 2, SOFT, "4.2.2"),
        ("en", 3, SOFT, "4.2.2"),
        ("en", 4, POLICY, "5.7.1"),
        ("en", 5, COMPLAINT, ""),
        ("en", 6, COMPLAINT, ""),
    ]:
        subscriber_id, delivery_id = sent.pick(language, n)
        record(subscriber_id, kind, campaign_id=cid, delivery_id=delivery_id, status_code=code)
    record(sent.pick("en", 7)[0], UNSUBSCRIBE, campaign_id=cid)

    page = text(client.get(f"/campaigns/{cid}"))
    assert "Of 1000 sent" in page
    assert figures(page) == {
        "hard": {"count": "3", "rate": "0.30 %", "at-sending": "1"},
        "soft": {"count": "2", "rate": "0.20 %", "at-sending": "0"},
        "policy": {"count": "1", "rate": "0.10 %", "at-sending": "0"},
        "complaint": {"count": "2", "rate": "0.20 %", "at-sending": ""},
        "unsubscribe": {"count": "1", "rate": "0.10 %", "at-sending": ""},
    }
    # Two complaints in a thousand is 0.2 %: over 0.1 %, and the page says why it matters.
    warning = re.search(r'id="complaint-warning">(.*?)</p>', page, re.S).group(1)
    assert "0.20 %" in warning and "0.3 %" in warning and "Gmail" in warning
    # Per language: a policy refusal is not a bounce of the address; the refused one not sent.
    assert by_language(page) == {"en": ("4", "2"), "uk": ("1", "0")}
    assert f'href="/bounces?campaign={cid}"' in page


def test_one_complaint_in_a_thousand_is_no_warning(app, client):
    sent = sent_campaign({"en": 1000})
    subscriber_id, delivery_id = sent.pick("en", 0)
    record(subscriber_id, COMPLAINT, campaign_id=sent.campaign_id, delivery_id=delivery_id)
    page = text(client.get(f"/campaigns/{sent.campaign_id}"))
    assert figures(page)["complaint"]["rate"] == "0.10 %"
    assert "complaint-warning" not in page
    # One language: no table per language.
    assert "return-languages" not in page


def test_a_draft_has_nothing_that_came_back_and_nothing_sent_gives_no_rate(app, client):
    draft = make_campaign({"en": "Soon"})
    assert 'id="returns"' not in text(client.get(f"/campaigns/{draft.id}"))
    sent = sent_campaign({"en": 1})
    db.session.execute(update(Delivery).values(status=DeliveryStatus.FAILED_PERM))
    db.session.commit()
    page = text(client.get(f"/campaigns/{sent.campaign_id}"))
    assert figures(page)["hard"] == {"count": "0", "rate": "–", "at-sending": "0"}


# --- A subscriber's returns ------------------------------------------------------------------


def bounced_subscriber(email: str = "ann@example.org") -> tuple[int, int]:
    """A subscriber with a soft bounce two days ago and a hard one today, from a campaign."""
    sent = sent_campaign({"en": 1})
    subscriber_id, delivery_id = sent.pick("en", 0)
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(email=email, email_hash=hasher().email_hash(email))
    )
    db.session.commit()
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    record(
        subscriber_id,
        SOFT,
        source="pop3",
        status_code="4.2.2",
        diagnostic=f"mailbox full for <{email}>",
        now=two_days_ago,
    )
    record(
        subscriber_id,
        HARD,
        source="ses",
        campaign_id=sent.campaign_id,
        delivery_id=delivery_id,
        status_code="5.1.1",
        diagnostic="550 user unknown",
    )
    return subscriber_id, sent.campaign_id


def history(page: str) -> list[str]:
    table = page[page.index('id="return-history"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr data-event=\"\d+\">(.*?)</tr>", table, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_the_subscriber_page_shows_their_returns_score_and_why_they_are_suppressed(app, client):
    subscriber_id, campaign_id = bounced_subscriber()
    page = text(client.get(f"/subscribers/{subscriber_id}"))
    newest, oldest = history(page)
    assert "hard suppressed 5.1.1 550 user unknown" in newest and newest.endswith("ses")
    assert "soft 4.2.2 mailbox full for &lt;ann@example.org&gt; – pop3" in oldest
    assert f'href="/campaigns/{campaign_id}"' in page
    score = bounces.score_of(db.session.connection(), subscriber_id, bounces.Scoring())
    assert 0.9 < score < 1.0  # one soft bounce, two days into a 30-day half-life
    assert f"Soft-bounce score: <strong>{score:.2f}</strong>" in page
    assert "Suppressed for <strong>bounce</strong>" in page
    assert "hard bounce 5.1.1: 550 user unknown" in page
    assert "Mail them again" in page


def test_mail_them_again_makes_them_active_with_no_score_and_no_bounce_suppression(app, caplog):
    subscriber_id, _ = bounced_subscriber()
    editor = signed_in(app, "editor")
    token = csrf_token(editor, f"/subscribers/{subscriber_id}")
    with caplog.at_level(logging.INFO, logger="tocsin.audit"):
        answer = editor.post(
            f"/subscribers/{subscriber_id}/mail-again",
            data={"csrf_token": token},
            follow_redirects=True,
        )
    assert "They will be mailed again" in " ".join(flashed(answer))
    db.session.expire_all()
    subscriber = db.session.get(Subscriber, subscriber_id)
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert db.session.get(BounceScore, subscriber_id) is None
    assert (
        db.session.scalar(
            select(Suppression).where(Suppression.email_hash == subscriber.email_hash)
        )
        is None
    )
    assert f"subscriber={subscriber_id} by=editor@example.org" in caplog.text
    assert "Mail them again" not in text(answer)  # no longer bounced
    assert "Soft-bounce score: <strong>0.00</strong>" in text(answer)


def test_mail_them_again_leaves_a_complaint_suppression_in_place(app, client):
    subscriber_id, _ = bounced_subscriber()
    subscriber = db.session.get(Subscriber, subscriber_id)
    # The address was on the list for a complaint before it bounced: the complaint stays.
    db.session.execute(delete_suppression(subscriber.email_hash))
    suppress_hash(db.session.connection(), subscriber.email_hash, SuppressionReason.COMPLAINT)
    db.session.commit()
    client.post(f"/subscribers/{subscriber_id}/mail-again")
    db.session.expire_all()
    assert db.session.get(Subscriber, subscriber_id).status is SubscriberStatus.ACTIVE
    kept = db.session.scalar(
        select(Suppression.reason).where(Suppression.email_hash == subscriber.email_hash)
    )
    assert kept is SuppressionReason.COMPLAINT
    assert "Suppressed for <strong>complaint</strong>" in text(
        client.get(f"/subscribers/{subscriber_id}")
    )


def delete_suppression(email_hash: str):
    from sqlalchemy import delete

    return delete(Suppression).where(Suppression.email_hash == email_hash)


def test_a_complainer_cannot_be_mailed_again_from_their_page(app, client):
    sent = sent_campaign({"en": 1})
    subscriber_id, delivery_id = sent.pick("en", 0)
    record(subscriber_id, COMPLAINT, campaign_id=sent.campaign_id, delivery_id=delivery_id)
    page = text(client.get(f"/subscribers/{subscriber_id}"))
    assert "Mail them again" not in page
    answer = client.post(f"/subscribers/{subscriber_id}/mail-again", follow_redirects=True)
    assert "only a bounced subscriber can be mailed again; this one is complained" in " ".join(
        flashed(answer)
    )
    db.session.expire_all()
    assert db.session.get(Subscriber, subscriber_id).status is SubscriberStatus.COMPLAINED
    assert db.session.scalar(select(Suppression.reason)) is SuppressionReason.COMPLAINT


def test_a_viewer_sees_no_button_and_their_post_is_refused_and_changes_nothing(app):
    subscriber_id, _ = bounced_subscriber("olena.secret@partner.example")
    viewer = signed_in(app, "viewer")
    page = text(viewer.get(f"/subscribers/{subscriber_id}"))
    assert "Mail them again" not in page
    assert "olena.secret" not in page and "•••@partner.example" in page
    token = csrf_token(viewer, "/campaigns")
    answer = viewer.post(f"/subscribers/{subscriber_id}/mail-again", data={"csrf_token": token})
    assert answer.status_code == 403
    db.session.expire_all()
    subscriber = db.session.get(Subscriber, subscriber_id)
    assert subscriber.status is SubscriberStatus.BOUNCED
    assert db.session.get(BounceScore, subscriber_id).score == pytest.approx(1.0)
    assert db.session.scalar(select(Suppression.reason)) is SuppressionReason.BOUNCE


def test_mail_them_again_without_the_form_token_changes_nothing(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    subscriber_id, _ = bounced_subscriber()
    editor = signed_in(app, "editor")
    answer = editor.post(f"/subscribers/{subscriber_id}/mail-again")
    assert answer.status_code == 400 and "CSRF" in text(answer)
    db.session.expire_all()
    assert db.session.get(Subscriber, subscriber_id).status is SubscriberStatus.BOUNCED


# --- The bounce log --------------------------------------------------------------------------


def shown(client, query: str = "") -> list[int]:
    """The ids of the returns the log page lists, in its order."""
    page = text(client.get(f"/bounces{query}"))
    table = page[page.index('id="returns"') :]
    return [int(i) for i in re.findall(r'<tr data-event="(\d+)">', table)]


def day(d: int, month: int = 11) -> datetime:
    return datetime(2026, month, d, 12, tzinfo=UTC)


@pytest.fixture()
def log(app):
    """Four returns: two campaigns, three sources, four kinds, four dates, two people."""
    people = make_list()
    ann = make_subscriber("ann@example.org", lists=[people])
    bob = make_subscriber("bob@example.org", lists=[people])
    first, second = make_campaign({"en": "First"}), make_campaign({"en": "Second"})
    events = [
        record(
            ann.id, HARD, source="imap", campaign_id=first.id, status_code="5.1.1", now=day(1)
        ).event_id,
        record(
            bob.id, SOFT, source="ses", campaign_id=second.id, status_code="4.2.2", now=day(10)
        ).event_id,
        record(bob.id, COMPLAINT, source="send", campaign_id=first.id, now=day(20)).event_id,
        record(ann.id, UNSUBSCRIBE, source="imap", now=day(1, 12)).event_id,
    ]
    return events, first.id, second.id


def test_the_log_lists_the_newest_first_with_links_to_the_subscriber_and_campaign(app, client, log):
    (hard, soft, complaint, unsubscribe), first, _ = log
    assert shown(client) == [unsubscribe, complaint, soft, hard]
    page = text(client.get("/bounces"))
    row = re.search(rf'<tr data-event="{hard}">(.*?)</tr>', page, re.S).group(1)
    ann = db.session.scalar(select(Subscriber.id).where(Subscriber.email == "ann@example.org"))
    assert f'href="/subscribers/{ann}">ann@example.org</a>' in row
    assert f'href="/campaigns/{first}"' in row and "5.1.1" in row and "imap" in row


def test_each_filter_of_the_log_narrows_it(app, client, log):
    (hard, soft, complaint, unsubscribe), first, second = log
    assert shown(client, "?kind=soft") == [soft]
    assert shown(client, f"?campaign={first}") == [complaint, hard]
    assert shown(client, f"?campaign={second}") == [soft]
    assert shown(client, "?source=imap") == [unsubscribe, hard]
    assert shown(client, "?since=2026-11-10") == [unsubscribe, complaint, soft]
    assert shown(client, "?until=2026-11-10") == [soft, hard]  # the end day is included
    assert shown(client, "?since=2026-11-02&until=2026-11-30") == [complaint, soft]
    assert shown(client, "?address=Bob%40Example.org") == [complaint, soft]
    assert shown(client, f"?kind=hard&campaign={first}&source=imap&address=ann@example.org") == [
        hard
    ]
    assert shown(client, "?kind=policy") == []
    assert "Nothing came back that matches" in text(client.get("/bounces?kind=policy"))


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("kind=bounced", "kind", "'bounced' is not one of hard, soft, policy, complaint"),
        ("campaign=abc", "campaign", "'abc' is not a campaign's number"),
        ("campaign=99999", "campaign", "no campaign with id 99999"),
        ("source=%3Cscript%3E", "source", "is not a source such as smtp, imap or ses"),
        ("since=2026-13-45", "since", "'2026-13-45' is not a date such as 2026-12-08"),
        ("since=2026-11-05&until=2026-11-01", "until", "the end date is before the start date"),
        ("address=nobody%40example.org", "address", "no subscriber has this address"),
        ("address=not-an-address", "address", "is not a valid address"),
    ],
)
def test_a_bad_filter_value_is_refused_at_its_field_and_the_rest_apply(
    app, client, log, query, field, message
):
    (hard, soft, complaint, unsubscribe), _, _ = log
    response = client.get(
        f"/bounces?{query}&kind=soft" if field != "kind" else f"/bounces?{query}&source=ses"
    )
    page = text(response)
    assert response.status_code == 200
    at_field = re.search(rf'<span class="error" id="filter-error-{field}">(.*?)</span>', page, re.S)
    assert at_field and message in at_field.group(1).replace("&#39;", "'"), page
    assert f'aria-describedby="filter-error-{field}"' in page
    assert any(f"Filter not applied ({field})" in f for f in flashed(response))
    table = page[page.index('id="returns"') :]
    assert re.findall(r'<tr data-event="(\d+)">', table) == [str(soft)]  # the other filter


def test_a_viewer_sees_the_log_with_addresses_masked_and_no_address_search(app, log):
    viewer = signed_in(app, "viewer")
    page = text(viewer.get("/bounces"))
    assert "ann@example.org" not in page and "•••@example.org" in page
    assert 'name="address"' not in page
    refused = viewer.get("/bounces?address=ann%40example.org")
    assert "Searching by address is for editors and owners" in " ".join(flashed(refused))
    assert len(re.findall(r'<tr data-event="\d+">', text(refused))) == 4  # not narrowed


def test_the_log_pages_through_every_return_once_newest_first(app, client):
    ann = make_subscriber("ann@example.org", lists=[make_list()])
    connection = db.session.connection()
    same = day(5)
    for n in range(120):
        # Sixty share one time: the id breaks the tie.
        when = same if n < 60 else same + timedelta(minutes=n)
        bounces.record(
            connection, ann.id, POLICY, source="imap", scoring=bounces.Scoring(), now=when
        )
    db.session.commit()
    seen, query = [], ""
    while True:
        page = text(client.get(f"/bounces{query}"))
        table = page[page.index('id="returns"') :]
        seen += [int(i) for i in re.findall(r'<tr data-event="(\d+)">', table)]
        following = re.search(r'href="/bounces\?before=(\d+)[^"]*" id="next"', page)
        if not following:
            break
        query = f"?before={following.group(1)}"
    rows = (
        db.session.execute(
            select(ReturnEvent.id).order_by(ReturnEvent.created_at.desc(), ReturnEvent.id.desc())
        )
        .scalars()
        .all()
    )
    assert seen == rows and len(seen) == 120


# --- Inbound mail ----------------------------------------------------------------------------

HOSTILE = (
    b"From: MAILER-DAEMON@mx.example.net\r\n"
    b"To: bounces+abc@news.example.org\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Content-Type: text/html\r\n\r\n"
    b"<html><body><script>alert(1)</script><img src=x onerror=alert(2)>"
    b'<a href="javascript:alert(3)">olena.secret@partner.example</a></body></html>\r\n'
)


def test_a_raw_message_is_shown_as_escaped_text_and_downloaded_as_plain_text(app, client):
    accepted = intake.accept(
        HOSTILE, source="imap", envelope_from="", recipients=["bounces+abc@news.example.org"]
    )
    listing = text(client.get("/inbound"))
    assert f'<tr data-inbound="{accepted.id}">' in listing and "queued" in listing
    page = text(client.get(f"/inbound/{accepted.id}"))
    raw = page[page.index('<pre class="raw" id="raw">') :]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert (
        "<script>alert" not in page and "<img src=x" not in page and 'href="javascript' not in page
    )
    assert "&lt;img src=x onerror=alert(2)&gt;" in raw
    download = client.get(f"/inbound/{accepted.id}/raw.txt")
    assert download.data == HOSTILE
    assert download.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert (
        download.headers["Content-Disposition"]
        == f'attachment; filename="inbound-{accepted.id}.txt"'
    )
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    policy = download.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy


def test_a_large_message_shows_its_first_200_kb_and_says_so(app, client):
    big = b"Subject: big\r\n\r\n" + b"x" * 250_000 + b"TAIL-MARKER\r\n"
    accepted = intake.accept(big, source="pop3")
    page = text(client.get(f"/inbound/{accepted.id}"))
    assert 'id="cut"' in page and "the first 200.0 kB are shown" in page
    raw = re.search(r'<pre class="raw" id="raw">(.*?)</pre>', page, re.S).group(1)
    assert len(raw) == 200_000 and "TAIL-MARKER" not in page
    assert client.get(f"/inbound/{accepted.id}/raw.txt").data.endswith(b"TAIL-MARKER\r\n")
    small = intake.accept(HOSTILE, source="imap")
    assert 'id="cut"' not in text(client.get(f"/inbound/{small.id}"))


def test_a_viewer_sees_the_inbound_list_masked_and_never_a_raw_message(app):
    accepted = intake.accept(HOSTILE, source="imap")
    db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == accepted.id)
        .values(status="applied", outcome="hard 5.1.1 for olena.secret@partner.example: suppressed")
    )
    db.session.commit()
    viewer = signed_in(app, "viewer")
    listing = text(viewer.get("/inbound"))
    assert "•••@partner.example: suppressed" in listing and "olena.secret" not in listing
    assert f'href="/inbound/{accepted.id}"' not in listing
    assert viewer.get(f"/inbound/{accepted.id}").status_code == 403
    assert viewer.get(f"/inbound/{accepted.id}/raw.txt").status_code == 403


def test_the_inbound_list_filters_by_status_and_refuses_a_bad_one(app, client):
    queued = intake.accept(HOSTILE, source="imap")
    failed = intake.accept(b"Subject: other\r\n\r\nx", source="smtp")
    db.session.execute(
        update(InboundMessage).where(InboundMessage.id == failed.id).values(status="failed")
    )
    db.session.commit()
    page = text(client.get("/inbound?status=failed"))
    assert f'data-inbound="{failed.id}"' in page and f'data-inbound="{queued.id}"' not in page
    bad = client.get("/inbound?status=lost")
    assert bad.status_code == 200
    assert "Filter not applied: 'lost' is not one of queued" in " ".join(flashed(bad)).replace(
        "&#39;", "'"
    )
    assert f'data-inbound="{queued.id}"' in text(bad) and f'data-inbound="{failed.id}"' in text(bad)
    assert client.get("/inbound/999999").status_code == 404
    assert client.get("/inbound/999999/raw.txt").status_code == 404
