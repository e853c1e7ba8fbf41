"""The send loop in this process, against the real SMTP server: failover, throttling,
unreachable servers, DKIM and VERP. (Crash behaviour needs worker processes: see
test_delivery_faults.py.)"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select, update

from app.campaigns import drafts, lifecycle, results
from app.delivery import ledger
from app.delivery.recording import BatchLedger, DeliveryOutcome
from app.delivery.smtp import close_all
from app.delivery.throttle import DatabaseThrottle, RedisThrottle, wait_for_slot
from app.extensions import db
from app.mailservers import SmtpSettings
from app.models import Campaign, Delivery, DeliveryStatus
from app.models.base import utcnow
from tests.support.dkim import ed_record
from tests.support.factories import make_campaign, make_list, make_subscribers
from tests.support.sending import send_everything, settings
from tests.support.smtp import recipients

pytestmark = pytest.mark.usefixtures("no_dispatcher_in_module")


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    """This process keeps SMTP connections like a worker does; close them after each test."""
    yield
    close_all()


def campaign_for(
    count: int, smtp_server: str | None = None
) -> tuple[Campaign, list[str], list[ledger.Claimed]]:
    """Start a campaign and claim all its rows at once, here: the session's worker (when it
    runs) then finds nothing to claim, so this process alone sends them."""
    partners = make_list("partners", "Partners")
    emails = make_subscribers(count, lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    if smtp_server:
        db.session.execute(
            update(Campaign).where(Campaign.id == campaign.id).values(smtp_server=smtp_server)
        )
        db.session.commit()
    lifecycle.start_sending(campaign.id)
    ids = db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id)).all()
    claimed = ledger.claim(ledger.Batch(campaign.id, min(ids), max(ids)))
    assert len(claimed) == count
    return campaign, emails, claimed


def test_failover_to_the_next_server_when_the_first_cannot_be_reached(app, smtp):
    live = os.environ["TOCSIN_SMTP_URL"].split()[0].split("?")[0]
    dead = os.environ["TOCSIN_SMTP_URL"].split()[2].split("?")[0]
    campaign, emails, claimed = campaign_for(5)
    with settings(app, SMTP_URL=f"{dead}?name=dead&weight=1000000&timeout=2 {live}?name=live"):
        send_everything(campaign, claimed)
    assert sorted(recipients(smtp.messages)) == emails


def test_a_campaign_pinned_to_an_unreachable_server_waits_without_spending_attempts(app, smtp):
    campaign, _emails, claimed = campaign_for(5, smtp_server="dead")
    send_everything(campaign, claimed)
    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
    assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.FAILED_TEMP, 0)}
    assert all("cannot reach dead" in r.smtp_reply for r in rows)
    assert smtp.messages == []


def test_a_rate_limited_server_is_not_exceeded(app, smtp):
    campaign, emails, claimed = campaign_for(30, smtp_server="slow")  # rate=20 a second
    started = time.monotonic()
    send_everything(campaign, claimed)
    elapsed = time.monotonic() - started
    assert sorted(recipients(smtp.messages)) == emails
    assert elapsed >= 0.45, f"30 messages at 20/s took only {elapsed:.2f}s"


@pytest.mark.parametrize("kind", ["database", "redis"])
def test_throttle_counts_every_taker_against_one_window(app, kind):
    if kind == "redis" and not os.environ["TOCSIN_BROKER_URL"].startswith("redis"):
        pytest.skip("the Redis throttle runs in the PostgreSQL + Redis pass of .ci/run")
    throttle = (
        DatabaseThrottle() if kind == "database" else RedisThrottle(os.environ["TOCSIN_BROKER_URL"])
    )
    server = SmtpSettings(
        "smtp", "127.0.0.1", 25, name=f"t-{kind}-{time.time_ns()}", limits=((10, 60.0),)
    )
    granted = [throttle.try_take(server) for _ in range(25)]
    assert granted[:10] == [0.0] * 10
    assert all(wait > 0 for wait in granted[10:])
    assert max(granted[10:]) <= 60


def test_wait_for_slot_spaces_messages_by_the_rate(app):
    server = SmtpSettings(
        "smtp", "127.0.0.1", 25, name=f"pace-{time.time_ns()}", limits=((10, 1.0),)
    )
    throttle = DatabaseThrottle()
    started = time.monotonic()
    for _ in range(15):
        wait_for_slot(throttle, server)
    assert time.monotonic() - started >= 0.4


def test_a_campaign_with_its_own_sender_still_comes_back_to_the_bounce_domain(app, smtp):
    campaign, _emails, claimed = campaign_for(1)
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(from_address="Kyiv Collective <kyiv@collective.example.net>")
    )
    db.session.commit()
    send_everything(campaign, claimed)
    [envelope] = smtp.envelopes
    assert envelope.message["From"].addresses[0].domain == "collective.example.net"
    assert envelope.mail_from.endswith("@example.org")  # TOCSIN_FROM's domain
    assert "<mailto:unsubscribe@example.org?" in str(envelope.message["List-Unsubscribe"])


def test_messages_are_dkim_signed_and_carry_a_verp_envelope(app, smtp):
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    campaign, _emails, claimed = campaign_for(2)
    with settings(app, DKIM_KEY=pem, DKIM_SELECTOR="news2025", BOUNCE_DOMAIN="bounces.example.org"):
        send_everything(campaign, claimed)
    record = ed_record(key)
    for envelope, raw in zip(smtp.envelopes, smtp.raw_messages, strict=True):
        assert dkim.verify(
            raw,
            dnsfunc=lambda name, timeout=5: (
                record if name == b"news2025._domainkey.example.org." else None
            ),
        )
        message_id = str(envelope.message["Message-ID"])
        assert envelope.mail_from == f"bounces+{message_id[1:].split('@')[0]}@bounces.example.org"
        # The mailto unsubscribe goes where the receiver reads, like the bounces.
        unsubscribe = str(envelope.message["List-Unsubscribe"])
        assert "<mailto:unsubscribe@bounces.example.org?subject=unsubscribe%20" in unsubscribe
    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
    assert {r.message_id for r in rows} == {str(e.message["Message-ID"]) for e in smtp.envelopes}


def test_retry_window_gives_up_to_a_permanent_failure(app):
    campaign, _emails, [row] = campaign_for(1)
    delivery_id = row.delivery_id
    book = BatchLedger(campaign.id, {**app.config, "RETRY_WINDOW_SECONDS": 0})
    time.sleep(0.01)
    book.step(
        DeliveryOutcome(row, DeliveryStatus.FAILED_TEMP, "451 4.3.0 still down", retry=True), None
    )
    book.close()
    delivery = db.session.get(Delivery, delivery_id)
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED_PERM
    assert delivery.smtp_reply == "gave up after 1 attempts: 451 4.3.0 still down"


def test_a_retry_waits_with_a_growing_backoff(app):
    campaign, _emails, [row] = campaign_for(1)
    delivery_id = row.delivery_id
    book = BatchLedger(campaign.id, {**app.config, "RETRY_BASE_SECONDS": 100})
    book.step(DeliveryOutcome(row, DeliveryStatus.FAILED_TEMP, "451 4.3.0 later", retry=True), None)
    book.close()
    delivery = db.session.get(Delivery, delivery_id)
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED_TEMP
    wait = (delivery.next_attempt_at - delivery.updated_at).total_seconds()
    assert 80 <= wait <= 120


def test_a_campaign_can_only_name_a_configured_server(app):
    partners = make_list("partners", "Partners")
    with pytest.raises(drafts.InvalidInput, match="no SMTP server is named 'nope'"):
        drafts.create_campaign("X", lists=[partners], smtp_server="nope")
    named = drafts.create_campaign("Y", lists=[partners], smtp_server="slow")
    assert named.smtp_server == "slow"


def test_a_lapsed_lease_writes_nothing_over_the_next_claim(app):
    campaign, _emails, [first] = campaign_for(1)
    lifecycle.pause(campaign.id)  # so a running worker's dispatcher leaves the row to us
    delivery_id = first.delivery_id
    db.session.execute(update(Delivery).values(status=DeliveryStatus.QUEUED))  # swept
    db.session.commit()
    [second] = ledger.claim(ledger.Batch(campaign.id, delivery_id, delivery_id))
    book = BatchLedger(campaign.id, app.config)
    book.step(DeliveryOutcome(first, DeliveryStatus.SENT, "250 late"), None)
    book.release([first], DeliveryStatus.QUEUED)
    book.step(DeliveryOutcome(second, DeliveryStatus.SENT, "250 on time"), None)
    book.close()
    delivery = db.session.get(Delivery, delivery_id)
    db.session.refresh(delivery)
    assert (delivery.status, delivery.smtp_reply) == (DeliveryStatus.SENT, "250 on time")


def test_rows_of_a_cancelled_campaign_whose_worker_died_end_skipped(app):
    campaign, _emails, _claimed = campaign_for(3)
    lifecycle.cancel(campaign.id)
    db.session.execute(update(Delivery).values(lease_until=utcnow()))  # the lease runs out
    db.session.commit()
    ledger.dispatch(utcnow() + timedelta(seconds=1))
    statuses = db.session.scalars(select(Delivery.status)).all()
    assert statuses == [DeliveryStatus.SKIPPED] * 3
    assert results.progress(campaign.id)["remaining"] == 0


def test_a_sender_address_is_checked_when_the_campaign_is_made(app):
    partners = make_list("partners", "Partners")
    with pytest.raises(drafts.InvalidInput, match="is not a sender"):
        drafts.create_campaign("X", lists=[partners], from_address="Ann <not an address>")
    with pytest.raises(drafts.InvalidInput, match="not a valid address"):
        drafts.create_campaign("X", lists=[partners], from_address="Ann <ann@example..org>")
    made = drafts.create_campaign("Y", lists=[partners], from_address="Олена <News@Example.org>")
    assert made.from_address == "Олена <news@example.org>"  # as typed; encoded when sent
