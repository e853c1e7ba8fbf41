"""The suppression list and blocked domains: add, check, remove with a reason; sends, system
emails already queued and manual adds honour them."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from app.audience import records, subscribers, subscriptions, suppressions
from app.campaigns import lifecycle
from app.delivery.outbox_sending import DROPPED, send_outbox
from app.delivery.smtp import close_all
from app.errors import InvalidInput, NotFound
from app.extensions import db
from app.models import (
    BlockedDomain,
    OutboxMessage,
    OutboxStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.support.factories import claim_queued_mail, make_campaign, make_list, make_subscriber


def test_suppressing_an_address_keeps_only_its_hash_and_blocklists_the_subscriber(app):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    assert suppressions.suppress_address(" Ann@Example.org ", "asked by phone") is True
    assert suppressions.suppress_address("ann@example.org", "again") is False
    row = db.session.scalar(select(Suppression))
    assert "ann" not in row.email_hash and (row.reason.value, row.note) == (
        "manual",
        "asked by phone",
    )
    assert db.session.scalar(select(Subscriber.status)) == SubscriberStatus.BLOCKLISTED
    check = suppressions.check_address("ann@example.org")
    assert check.blocked and check.suppression.note == "asked by phone"
    assert not suppressions.check_address("bob@example.org").blocked


def test_removing_a_suppression_needs_a_reason_and_is_logged(app, caplog):
    suppressions.suppress_address("ann@example.org")
    with pytest.raises(InvalidInput, match="say why"):
        suppressions.unsuppress_address("ann@example.org", "   ")
    assert suppressions.is_suppressed("ann@example.org")
    with caplog.at_level(logging.INFO, logger="tocsin.audit"):
        was = suppressions.unsuppress_address("ann@example.org", "wrote to us to come back", "o@x")
    assert was.value == "manual" and not suppressions.is_suppressed("ann@example.org")
    assert "wrote to us to come back" in caplog.text and "ann@example.org" not in caplog.text
    with pytest.raises(NotFound, match="is not on the suppression list"):
        suppressions.unsuppress_address("ann@example.org", "again")


def test_a_bad_address_is_refused_everywhere(app):
    for call in (
        lambda: suppressions.suppress_address("not an address"),
        lambda: suppressions.check_address("@example.org"),
        lambda: suppressions.unsuppress_address("nope", "reason"),
    ):
        with pytest.raises(InvalidInput, match="is not a valid address"):
            call()
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_blocked_and_suppressed_subscribers_are_not_in_a_new_campaigns_ledger(app):
    partners = make_list()
    for e in ("ok@example.org", "gone@example.org", "x@spam.example", "y@spam.example"):
        make_subscriber(e, lists=[partners])
    suppressions.suppress_address("gone@example.org", "complained by phone")
    assert suppressions.block_domain("spam.example", "disposable addresses") == 2
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    assert lifecycle.start_sending(campaign.id) == 1


def test_blocked_domains_refuse_new_subscribers_and_unblocking_needs_a_reason(app):
    partners = make_list()
    suppressions.block_domain("Spam.Example", "disposable")
    domain = db.session.scalar(select(BlockedDomain))
    assert (domain.domain, domain.reason) == ("spam.example", "disposable")
    with pytest.raises(InvalidInput, match="is at a blocked domain"):
        make_subscriber("new@spam.example", lists=[partners])
    with pytest.raises(InvalidInput, match="say why"):
        suppressions.remove_blocked_domain(domain.id, "")
    assert suppressions.remove_blocked_domain(domain.id, "a real provider") == "spam.example"
    assert suppressions.blocked_domains() == []
    make_subscriber("new@spam.example", lists=[partners])
    with pytest.raises(NotFound):
        suppressions.remove_blocked_domain(domain.id, "twice")


def test_a_unicode_domain_is_blocked_in_the_form_addresses_are_stored_in(app):
    partners = make_list()
    make_subscriber("ann@xn--bcher-kva.example", lists=[partners])
    make_subscriber("ann@example.org", lists=[partners])
    assert suppressions.block_domain(" @Bücher.Example ", "disposable") == 1
    assert db.session.scalar(select(BlockedDomain.domain)) == "xn--bcher-kva.example"
    assert (
        db.session.scalar(
            select(Subscriber.status).where(Subscriber.email == "ann@xn--bcher-kva.example")
        )
        == SubscriberStatus.BLOCKLISTED
    )
    with pytest.raises(InvalidInput, match="is at a blocked domain"):
        make_subscriber("bob@BÜCHER.example", lists=[partners])
    assert suppressions.check_address("carl@bücher.example").blocked_domain is not None
    assert suppressions.block_domain("xn--bcher-kva.example") == 0  # the same domain, once
    assert len(suppressions.blocked_domains()) == 1


@pytest.mark.parametrize(
    "domain",
    ["", "localhost", "a b.org", "ann@example.org", "a..b.org", "-x.example", "x_y.org"],
)
def test_bad_domains_are_refused(app, domain):
    with pytest.raises(InvalidInput, match="is not a domain"):
        suppressions.block_domain(domain)
    assert suppressions.blocked_domains() == []


def test_a_suppressed_subscriber_cannot_be_made_active_until_the_suppression_goes(app):
    partners = make_list()
    ann = make_subscriber("ann@example.org", lists=[partners])
    suppressions.suppress_address("ann@example.org")
    fields = dict(
        email="ann@example.org",
        name="Ann",
        language="en",
        country="",
        group_id=None,
        status="active",
        attributes="",
        list_ids=[partners.id],
    )
    with pytest.raises(InvalidInput, match="is on the suppression list"):
        records.update_subscriber(ann.id, **fields)
    suppressions.unsuppress_address("ann@example.org", "came back")
    records.update_subscriber(ann.id, **fields)
    assert subscribers.find("ann@example.org").status == SubscriberStatus.ACTIVE


def test_recent_suppressions_page_by_id(app):
    for n in range(5):
        suppressions.suppress_address(f"p{n}@example.org", f"note {n}")
    first = suppressions.recent_suppressions(limit=3)
    assert [s.note for s in first] == ["note 4", "note 3", "note 2"]
    rest = suppressions.recent_suppressions(before_id=first[-1].id, limit=3)
    assert [s.note for s in rest] == ["note 1", "note 0"]
    assert suppressions.recent_suppressions(reason="bounce") == []
    with pytest.raises(InvalidInput, match="'bored' is not one of"):
        suppressions.recent_suppressions(reason="bored")


def test_system_emails_to_addresses_suppressed_or_blocked_since_they_were_queued_are_dropped(
    app, smtp
):
    partners = make_list()
    ann, bob, carl = (
        make_subscriber(email, lists=[partners])
        for email in ("ann@example.org", "bob@spam.example", "carl@example.org")
    )
    subscriptions.queue_goodbye(ann, [partners.name])
    subscriptions.request_confirmation(bob, [partners])
    subscriptions.queue_goodbye(carl, [partners.name])
    claimed = claim_queued_mail()  # the worker holds them, about to send
    suppressions.suppress_address("ann@example.org", "asked by phone")
    suppressions.block_domain("spam.example", "disposable")

    try:
        assert send_outbox(claimed) == 1  # what the worker's task runs
    finally:
        close_all()
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["carl@example.org"]
    db.session.expire_all()
    rows = {row.to_address: row for row in db.session.scalars(select(OutboxMessage))}
    assert rows["carl@example.org"].status == OutboxStatus.SENT
    for address in ("ann@example.org", "bob@spam.example"):
        assert (rows[address].status, rows[address].reply) == (OutboxStatus.FAILED, DROPPED)
