"""The delivery engine under faults: real worker processes, a real broker, an SMTP server
that misbehaves on request. Each test asserts the final ledger and what the server received.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.audience import subscriptions
from app.audience.suppressions import is_suppressed
from app.campaigns import drafts, lifecycle, results
from app.extensions import db
from app.messages.composing import Recipient, factory_for
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from tests.support.factories import make_campaign, make_list, make_subscriber, make_subscribers
from tests.support.smtp import recipients

pytestmark = pytest.mark.slow


def ledger(campaign_id: int) -> dict[str, Delivery]:
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
    emails = dict(db.session.execute(select(Subscriber.id, Subscriber.email)).all())
    db.session.rollback()
    return {emails[row.subscriber_id]: row for row in rows}


def wait_until(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        if condition():
            db.session.rollback()
            return
        db.session.rollback()
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s")


def open_rows(campaign_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED)),
        )
    )


def test_each_smtp_outcome_lands_in_the_right_state(app, run_worker, smtp):
    partners = make_list("partners", "Partners")
    people = [
        "ok@example.org",
        "later@example.org",
        "gone@example.org",
        "content@example.org",
        "lost@example.org",
        "busy@example.org",
    ]
    for email in people:
        make_subscriber(email, lists=[partners])
    smtp.handler.behaviour.update(
        {
            "later@example.org": "rcpt-once:451 4.3.0 try again later",
            "gone@example.org": "rcpt:550 5.1.1 no such user",
            "content@example.org": "data:554 5.6.0 message content rejected",
            "lost@example.org": "drop-after-dot",
            "busy@example.org": "rcpt-once:452 4.2.2 mailbox full",
        }
    )
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)

    rows = ledger(campaign.id)
    assert rows["ok@example.org"].status == DeliveryStatus.SENT
    assert (rows["later@example.org"].status, rows["later@example.org"].attempts) == (
        DeliveryStatus.SENT,
        2,
    )
    assert rows["busy@example.org"].status == DeliveryStatus.SENT
    assert rows["gone@example.org"].status == DeliveryStatus.FAILED_PERM
    assert rows["gone@example.org"].smtp_reply == "550 5.1.1 no such user"
    assert rows["content@example.org"].status == DeliveryStatus.FAILED_PERM
    assert rows["lost@example.org"].status == DeliveryStatus.UNKNOWN
    assert "no reply after the end of data" in rows["lost@example.org"].smtp_reply

    gone = db.session.scalar(select(Subscriber).where(Subscriber.email == "gone@example.org"))
    assert gone.status == SubscriberStatus.BOUNCED and is_suppressed("gone@example.org")
    assert not is_suppressed("content@example.org")
    # The lost reply is counted once and not sent again by itself.
    assert Counter(recipients(smtp.messages)) == Counter(
        ["ok@example.org", "later@example.org", "lost@example.org", "busy@example.org"]
    )
    progress = results.progress(campaign.id)
    assert progress["counts"]["unknown"] == 1 and progress["counts"]["failed_perm"] == 2


def test_policy_refusal_pauses_the_campaign_with_its_reason_and_suppresses_nobody(
    app, run_worker, smtp
):
    partners = make_list("partners", "Partners")
    emails = make_subscribers(30, lists=[partners])
    smtp.handler.behaviour[emails[0]] = "rcpt:550 5.7.26 unauthenticated mail is prohibited"
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    run_worker.until_status(campaign.id, CampaignStatus.PAUSED)
    wait_until(
        lambda: (
            open_rows(campaign.id) == 30 - 1 - len(smtp.messages)
            and not db.session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.CLAIMED)
            )
        ),
        what="claimed rows released",
    )

    paused = db.session.get(Campaign, campaign.id)
    assert "5.7.26 unauthenticated mail is prohibited" in paused.status_reason
    assert ledger(campaign.id)[emails[0]].status == DeliveryStatus.FAILED_PERM
    assert not is_suppressed(emails[0])
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Subscriber)
            .where(Subscriber.status != SubscriberStatus.ACTIVE)
        )
        == 0
    )

    lifecycle.resume(campaign.id)
    run_worker.until_sent(campaign.id)
    assert sorted(recipients(smtp.messages)) == emails[1:]


def test_a_crashed_worker_child_loses_nobody_and_duplicates_at_most_one_per_kill(
    app, run_worker, smtp
):
    partners = make_list("partners", "Partners")
    emails = make_subscribers(300, lists=[partners])
    smtp.handler.delay = 0.01
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    rng = random.Random(7)
    kills = 3
    for kill in range(kills):
        threshold = 40 * (kill + 1)
        wait_until(lambda n=threshold: len(smtp.messages) >= n, what="some progress")
        time.sleep(rng.uniform(0, 0.2))
        run_worker.kill_one(rng.randrange(len(run_worker.workers)))
    run_worker.until_sent(campaign.id, timeout=120)

    received = Counter(recipients(smtp.messages))
    assert set(received) == set(emails), "everyone got the message"
    duplicates = sum(n - 1 for n in received.values())
    # A solo worker holds one SMTP connection: at most one message in flight per kill.
    assert duplicates <= kills, f"{duplicates} duplicates after {kills} kills"
    assert {row.status for row in ledger(campaign.id).values()} == {DeliveryStatus.SENT}


def test_the_same_batch_delivered_twice_at_once_sends_every_row_once(app, run_worker, smtp):
    from worker.tasks import deliver_batch

    partners = make_list("partners", "Partners")
    emails = make_subscribers(120, lists=[partners])
    smtp.handler.delay = 0.005
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    ids = db.session.scalars(
        select(Delivery.id).where(Delivery.campaign_id == campaign.id).order_by(Delivery.id)
    ).all()
    for _ in range(3):
        deliver_batch.delay(campaign.id, ids[0], ids[-1])
    run_worker.until_sent(campaign.id)
    assert Counter(recipients(smtp.messages)) == Counter(emails)


def test_pause_and_resume_five_times_quickly_sends_everyone_once(app, run_worker, smtp):
    partners = make_list("partners", "Partners")
    emails = make_subscribers(400, lists=[partners])
    smtp.handler.delay = 0.002
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    with pytest.raises(drafts.Conflict):
        lifecycle.start_sending(campaign.id)
    for _ in range(5):
        wait_until(lambda: len(smtp.messages) > 0, what="sending started")
        lifecycle.pause(campaign.id)
        time.sleep(0.05)
        lifecycle.resume(campaign.id)
    run_worker.until_sent(campaign.id, timeout=120)
    assert Counter(recipients(smtp.messages)) == Counter(emails)


def test_cancel_stops_the_send_and_skips_the_rest(app, run_worker, smtp):
    partners = make_list("partners", "Partners")
    make_subscribers(300, lists=[partners])
    smtp.handler.delay = 0.01
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    wait_until(lambda: len(smtp.messages) >= 20, what="some progress")
    lifecycle.cancel(campaign.id)
    wait_until(lambda: open_rows(campaign.id) == 0, what="nothing left open")
    sent_at_end = len(smtp.messages)
    states = Counter(row.status for row in ledger(campaign.id).values())
    assert states[DeliveryStatus.SENT] == sent_at_end < 300
    assert states[DeliveryStatus.SKIPPED] == 300 - sent_at_end
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.CANCELLED


def test_resend_reaches_only_failed_and_unknown_rows(app, run_worker, smtp):
    partners = make_list("partners", "Partners")
    for email in ("ok@example.org", "lost@example.org", "refused@example.org"):
        make_subscriber(email, lists=[partners])
    smtp.handler.behaviour.update(
        {"lost@example.org": "drop-after-dot", "refused@example.org": "data:554 5.6.0 rejected"}
    )
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)
    smtp.reset()
    assert lifecycle.resend(campaign.id) == 2
    run_worker.until_sent(campaign.id)
    assert sorted(recipients(smtp.messages)) == ["lost@example.org", "refused@example.org"]
    assert ledger(campaign.id)["refused@example.org"].status == DeliveryStatus.SENT


def test_an_unsubscribe_mid_send_stops_later_messages_to_them(app, run_worker, smtp):
    partners = make_list("partners", "Partners")
    emails = make_subscribers(5000, lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    # Slowed down while the test unsubscribes, so the workers cannot reach the last 1,000
    # before it is done, however fast they send and however slow this process is.
    smtp.handler.delay = 0.02
    lifecycle.start_sending(campaign.id)
    wait_until(lambda: len(smtp.messages) >= 300, what="the send under way")
    factory = factory_for(db.session.get(Campaign, campaign.id))
    received_so_far = set(recipients(smtp.messages))
    leaving = [e for e in emails[-1000:] if e not in received_so_far][::100]
    links = {}
    for email in leaving:
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        url = factory.unsubscribe_url(Recipient(subscriber.uid, email, "", "en", None, {}))
        links[email] = url.rsplit("/", 1)[1]
    # Each unsubscribe is committed, then the count of messages received so far is noted:
    # nothing to that address may arrive later, but for the one message per connection
    # whose final dot may have been on its way (the re-check happens before the dot).
    cuts = {}
    for email in leaving:
        subscriptions.unsubscribe(links[email])
        cuts[email] = len(smtp.messages)
    smtp.handler.delay = 0.0
    run_worker.until_sent(campaign.id, timeout=180)

    arrived = recipients(smtp.messages)
    in_flight = len(run_worker.workers)
    for email, cut in cuts.items():
        assert email not in arrived[cut + in_flight :], f"{email} was mailed after leaving"
    early = {e for e in leaving if e in arrived}  # sent before the unsubscribe landed
    assert len(early) <= len(leaving) // 2, "the send outran the test: no real check"
    assert set(arrived) == set(emails) - (set(leaving) - early)
    assert len(arrived) == len(set(arrived))
    rows = ledger(campaign.id)
    assert {rows[e].status for e in set(leaving) - early} == {DeliveryStatus.SKIPPED}
