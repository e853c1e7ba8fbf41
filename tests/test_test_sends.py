"""Test sends: any or all languages to given addresses, marked as tests, through the worker
and a real SMTP server; the panel shows what the server said."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.campaigns import drafts
from app.errors import InvalidInput
from app.extensions import db
from app.messages import outbox
from app.models import OutboxMessage, OutboxStatus
from tests.support.factories import make_campaign

pytestmark = pytest.mark.slow


def until_outbox_settled(worker, timeout: float = 60) -> list[OutboxMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        if rows and all(r.status in (OutboxStatus.SENT, OutboxStatus.FAILED) for r in rows):
            return rows
        worker.check_alive()
        time.sleep(0.1)
    raise AssertionError(f"the outbox did not settle in {timeout}s: {[r.status for r in rows]}")


def test_every_language_goes_to_every_address_marked_as_a_test(app, run_worker, smtp):
    campaign = make_campaign(
        {"en": ("Week of action", "Hi {{ name | default('friends') }}"), "uk": "Тиждень дій"}
    )
    drafts.save_variant(campaign.id, "es", subject="Semana", body="Hola", ready=False)
    count = outbox.queue_test_sends(
        campaign, ["Editor@Example.org", "translator@example.org", "editor@example.org"], []
    )
    assert count == 6  # two addresses (one repeated) × three variants, ready or not
    rows = until_outbox_settled(run_worker)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert all(r.reply.startswith("250") for r in rows)
    got = sorted(
        (m["To"].addresses[0].addr_spec, str(m["Content-Language"]), str(m["Subject"]))
        for m in smtp.messages
    )
    assert got == sorted(
        (address, language, f"[Test] {subject}")
        for address in ("editor@example.org", "translator@example.org")
        for language, subject in (("en", "Week of action"), ("uk", "Тиждень дій"), ("es", "Semana"))
    )
    assert all(m["X-Tocsin-Test"] == "yes" for m in smtp.messages)
    assert "Hi friends" in smtp.messages[0].get_body(("plain",)).get_content()


def test_refusals_are_recorded_with_the_servers_words(app, run_worker, smtp):
    campaign = make_campaign({"en": "Hello"})
    smtp.handler.behaviour["gone@example.org"] = "rcpt:550 5.1.1 No such user"
    smtp.handler.behaviour["busy@example.org"] = "rcpt:451 4.3.0 Try later"
    outbox.queue_test_sends(campaign, ["gone@example.org", "busy@example.org"], ["en"])
    rows = {r.to_address: r for r in until_outbox_settled(run_worker)}
    assert rows["gone@example.org"].status == OutboxStatus.FAILED
    assert "550 5.1.1 No such user" in rows["gone@example.org"].reply
    assert rows["busy@example.org"].status == OutboxStatus.FAILED
    assert rows["busy@example.org"].attempts == outbox.MAX_ATTEMPTS
    assert "451" in rows["busy@example.org"].reply
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("addresses", "languages", "message"),
    [
        ([], [], "at least one address"),
        (["   "], [], "at least one address"),
        (["not an address"], [], "not a valid address"),
        ([f"a{n}@example.org" for n in range(21)], [], "at most 20 addresses"),
        (["a@example.org"], ["fr"], "no fr variant"),
    ],
)
def test_bad_test_send_requests_are_refused_and_queue_nothing(app, addresses, languages, message):
    campaign = make_campaign({"en": "Hello"})
    with pytest.raises(InvalidInput, match=message):
        outbox.queue_test_sends(campaign, addresses, languages)
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_a_row_whose_worker_keeps_dying_is_given_up_not_retried_forever(app):
    from datetime import timedelta

    from app.models.base import utcnow

    campaign = make_campaign({"en": "Hello"})
    outbox.queue_test_sends(campaign, ["a@example.org", "b@example.org"], ["en"])
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    rows[0].status, rows[0].attempts = OutboxStatus.CLAIMED, outbox.MAX_ATTEMPTS
    rows[0].lease_until = utcnow() - timedelta(seconds=1)
    rows[1].status, rows[1].attempts = OutboxStatus.CLAIMED, 1
    rows[1].lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert rows[0].id not in outbox.claim_due()  # (a running worker's dispatcher may race us)
    db.session.expire_all()
    given_up, retried = (db.session.get(OutboxMessage, row.id) for row in rows)
    assert given_up.status == OutboxStatus.FAILED and "gave up" in given_up.reply
    assert retried.attempts >= 2  # claimed again, by us or by the dispatcher


def test_a_test_send_whose_variant_is_gone_fails_saying_why(app):
    from app.delivery.outbox_sending import send_outbox

    campaign = make_campaign({"en": "Hello", "uk": "Привіт"})
    outbox.queue_test_sends(campaign, ["editor@example.org"], ["uk"])
    row = db.session.scalars(select(OutboxMessage)).one()
    db.session.delete(next(v for v in campaign.variants if v.language == "uk"))
    db.session.commit()
    assert send_outbox([row.id]) == 0
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert row.status == OutboxStatus.FAILED
    assert row.reply == "the campaign has no uk variant"
