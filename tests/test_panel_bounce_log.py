"""The bounce log and the inbound mail, as organisers see them: newest first, a keyset page at
a time, each filter narrowing it and a bad value refused at its field; a raw message shown
as escaped text and downloaded as plain text that no browser renders or runs; viewers see
addresses masked and never a raw message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.audience import bounces
from app.extensions import db
from app.inbound import intake
from app.models import InboundMessage, ReturnEvent, ReturnKind, Subscriber
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.panel import flashed, signed_in, text
from tests.support.returns import record

HARD, SOFT, POLICY = ReturnKind.HARD, ReturnKind.SOFT, ReturnKind.POLICY
COMPLAINT, UNSUBSCRIBE = ReturnKind.COMPLAINT, ReturnKind.UNSUBSCRIBE


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
