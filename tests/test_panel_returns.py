"""What came back, as organisers see it: a campaign's bounces and complaints with their
rates over the messages sent (and the complaint warning), a subscriber's returns, score and
suppression, and "mail them again" for editors and owners only. The bounce log and the
inbound mail are in test_panel_bounce_log."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.audience import bounces
from app.audience.suppressions import suppress_hash
from app.extensions import db
from app.models import (
    BounceScore,
    Delivery,
    DeliveryStatus,
    ReturnKind,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from app.tokens import hasher
from tests.support.factories import make_campaign
from tests.support.panel import csrf_token, flashed, signed_in, text
from tests.support.returns import record, sent_campaign

HARD, SOFT, POLICY = ReturnKind.HARD, ReturnKind.SOFT, ReturnKind.POLICY
COMPLAINT, UNSUBSCRIBE = ReturnKind.COMPLAINT, ReturnKind.UNSUBSCRIBE


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
