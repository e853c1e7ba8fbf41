"""The bounce rules, by the status code: what a hard bounce, a soft one, a policy refusal and
a complaint do to a subscriber, over days; and that the send path's own replies are judged
by the same rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.audience import bounces
from app.audience.bounces import Scoring, judge
from app.campaigns import lifecycle
from app.delivery import ledger
from app.extensions import db
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    ReturnEvent,
    ReturnKind,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from app.models.base import utcnow
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.sending import send_everything

pytestmark = pytest.mark.usefixtures("no_dispatcher_in_module")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("5.1.1", ReturnKind.HARD),
        ("5.1.10", ReturnKind.HARD),
        ("5.1.2", ReturnKind.HARD),
        ("5.2.1", ReturnKind.HARD),
        ("5.2.2", ReturnKind.SOFT),  # mailbox full, however permanent the MTA calls it
        ("4.2.2", ReturnKind.SOFT),
        ("4.4.7", ReturnKind.SOFT),
        ("5.4.4", ReturnKind.SOFT),
        ("5.0.0", ReturnKind.SOFT),
        ("5.7.1", ReturnKind.POLICY),
        ("5.7.26", ReturnKind.POLICY),
        ("5.1.7", ReturnKind.POLICY),  # our sender's address, not theirs
        ("5.1.8", ReturnKind.POLICY),
        ("", ReturnKind.SOFT),
        ("five", ReturnKind.SOFT),
        ("5.1", ReturnKind.SOFT),
    ],
)
def test_the_kind_goes_by_the_status_code(status, kind):
    assert judge(status) is kind


def _subscriber(email: str = "ann@example.net") -> Subscriber:
    return make_subscriber(email, lists=[make_list()])


def _record(subscriber: Subscriber, kind: ReturnKind, at, **values) -> bounces.Recorded:
    recorded = bounces.record(
        db.session.connection(),
        subscriber.id,
        kind,
        source="smtp",
        scoring=Scoring(threshold=3.0, half_life_days=30.0),
        now=at,
        **values,
    )
    db.session.commit()
    return recorded


def _suppressed(subscriber: Subscriber) -> list[SuppressionReason]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Suppression.reason).where(Suppression.email_hash == subscriber.email_hash)
        )
    )


def test_a_hard_bounce_suppresses_at_once(app):
    ann = _subscriber()
    recorded = _record(ann, ReturnKind.HARD, utcnow(), status_code="5.1.1")
    assert recorded.suppressed
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.BOUNCED
    assert _suppressed(ann) == [SuppressionReason.BOUNCE]


def test_soft_bounces_add_up_over_days_and_suppress_at_the_threshold(app):
    ann, day = _subscriber(), utcnow()
    scores = [_record(ann, ReturnKind.SOFT, day + timedelta(days=n)).score for n in range(4)]
    # 1, then each day's score decayed a little and one added: 1.98, 2.93, 3.87.
    assert [round(s, 2) for s in scores] == [1.0, 1.98, 2.93, 3.87]
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.BOUNCED
    assert _suppressed(ann) == [SuppressionReason.BOUNCE]


def test_a_burst_of_soft_bounces_on_one_day_counts_once(app):
    ann, now = _subscriber(), utcnow()
    scores = [_record(ann, ReturnKind.SOFT, now + timedelta(minutes=n)).score for n in range(10)]
    assert set(scores) == {1.0}
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.ACTIVE
    assert _suppressed(ann) == []


def test_a_soft_score_decays_away(app):
    ann, then = _subscriber(), utcnow() - timedelta(days=60)
    _record(ann, ReturnKind.SOFT, then)
    _record(ann, ReturnKind.SOFT, then + timedelta(days=1))
    later = _record(ann, ReturnKind.SOFT, utcnow())
    assert 1.4 < later.score < 1.6  # two halvings of about 2, plus today's one
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.ACTIVE


def test_a_policy_refusal_is_recorded_but_never_scored(app):
    ann = _subscriber()
    for n in range(5):
        _record(ann, ReturnKind.POLICY, utcnow() + timedelta(days=n), status_code="5.7.1")
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.ACTIVE
    assert db.session.scalar(select(func.count()).select_from(ReturnEvent)) == 5


def test_a_complaint_suppresses_at_once_and_outranks_a_later_bounce(app):
    ann = _subscriber()
    _record(ann, ReturnKind.COMPLAINT, utcnow())
    _record(ann, ReturnKind.HARD, utcnow(), status_code="5.1.1")
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.COMPLAINED
    assert sorted(_suppressed(ann)) == [SuppressionReason.COMPLAINT]  # the first one stays


def test_a_blocklisted_subscriber_stays_blocklisted(app):
    ann = _subscriber()
    ann.status = SubscriberStatus.BLOCKLISTED
    db.session.commit()
    _record(ann, ReturnKind.HARD, utcnow(), status_code="5.1.1")
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.BLOCKLISTED


def _send_one(smtp, reply: str) -> tuple[Subscriber, Campaign]:
    partners = make_list("partners", "Partners")
    ann = make_subscriber("ann@example.net", lists=[partners])
    smtp.handler.behaviour["ann@example.net"] = f"data:{reply}"
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    ids = db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id)).all()
    send_everything(campaign, ledger.claim(ledger.Batch(campaign.id, min(ids), max(ids))))
    db.session.expire_all()
    return ann, db.session.get(Campaign, campaign.id)


@pytest.mark.parametrize(
    ("reply", "kind", "status"),
    [
        ("550 5.1.1 <ann@example.net>: User unknown", "hard", SubscriberStatus.BOUNCED),
        ("552 5.2.2 Mailbox full", "soft", SubscriberStatus.ACTIVE),
        ("554 Transaction failed", "soft", SubscriberStatus.ACTIVE),
    ],
)
def test_the_send_paths_own_refusals_are_judged_by_the_same_rules(app, smtp, reply, kind, status):
    ann, campaign = _send_one(smtp, reply)
    [event] = db.session.scalars(select(ReturnEvent)).all()
    assert (event.kind.value, event.source, event.campaign_id) == (kind, "send", campaign.id)
    assert db.session.get(Subscriber, ann.id).status == status
    row = db.session.scalar(select(Delivery).where(Delivery.campaign_id == campaign.id))
    assert (row.status, row.returned) == (DeliveryStatus.FAILED_PERM, None)


def test_a_policy_refusal_at_send_time_pauses_and_scores_nobody(app, smtp):
    ann, campaign = _send_one(smtp, "554 5.7.1 Message refused as spam")
    assert campaign.status == CampaignStatus.PAUSED
    assert db.session.scalar(select(func.count()).select_from(ReturnEvent)) == 0
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.ACTIVE
