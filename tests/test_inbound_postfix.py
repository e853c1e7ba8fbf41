"""The whole return path through a real MTA: Tocsin relays through Debian's Postfix, the
next hop refuses a recipient after Postfix accepted the message, Postfix writes its DSN to
the VERP address and hands it to Tocsin's receiver over LMTP, and the session's ordinary
worker applies it. The same road for an ARF complaint and a mailto unsubscribe."""

from __future__ import annotations

import json
import re
import smtplib
import time
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from app.campaigns import lifecycle
from app.delivery import ledger
from app.extensions import db
from app.inbound.receiver import ReceiverController
from app.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    ReturnEvent,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.postfix import Postfix
from tests.support.returns import arf
from tests.support.sending import send_everything, settings
from tests.support.smtp import SmtpServer, free_port

BOUNCE_DOMAIN = "example.org"  # the domain of TOCSIN_FROM in the tests


@pytest.fixture(scope="module")
def internet(tmp_path_factory: pytest.TempPathFactory):
    """The next hop Postfix relays example.net to."""
    server = SmtpServer(free_port(), tmp_path_factory.mktemp("internet") / "maildir")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver(app):
    controller = ReceiverController(app, "127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture(scope="module")
def postfix(internet, receiver):
    mta = Postfix(internet.port, receiver.port, BOUNCE_DOMAIN)
    mta.start()
    yield mta
    mta.stop()


def _send_through(postfix: Postfix, app, worker_process, campaign_id: int) -> None:
    """Send a campaign through Postfix from this process, with the session's workers
    stopped meanwhile (they would send it through the test server instead)."""
    worker_process.stop()
    try:
        lifecycle.start_sending(campaign_id)
        ids = db.session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == campaign_id)
        ).all()
        claimed = ledger.claim(ledger.Batch(campaign_id, min(ids), max(ids)))
        campaign = db.session.get(Campaign, campaign_id)
        with settings(app, SMTP_URL=f"smtp://127.0.0.1:{postfix.smtp_port}?name=main"):
            send_everything(campaign, claimed)
    finally:
        worker_process.start()


def _wait_for(what: str, check, postfix: Postfix, worker_process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        if check():
            db.session.rollback()
            return
        db.session.rollback()
        time.sleep(0.2)
    inbound = [(m.source, m.status, m.outcome) for m in db.session.scalars(select(InboundMessage))]
    pytest.fail(
        f"{what} did not happen in {timeout}s; inbound: {inbound}\n"
        f"Postfix log:\n{postfix.log()[-4000:]}\nworker log:\n{worker_process.log_tail()}"
    )


def _status(email: str) -> str:
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
    assert subscriber is not None
    return subscriber.status.value


def _show(app, email: str) -> dict:
    result = app.test_cli_runner().invoke(args=["subscribers", "show", email, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _received_by(internet: SmtpServer, address: str, postfix: Postfix) -> EmailMessage:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for envelope in internet.envelopes:
            if address in envelope.rcpt_tos:
                return envelope.message
        time.sleep(0.1)
    pytest.fail(f"nothing reached {address}; Postfix log:\n{postfix.log()[-4000:]}")


def test_a_recipient_refused_after_acceptance_is_bounced_and_never_mailed_again(
    app, worker_process, internet, postfix
):
    internet.reset()
    partners = make_list("partners", "Partners")
    make_subscriber("alive@example.net", lists=[partners])
    make_subscriber("gone@example.net", lists=[partners])
    internet.handler.behaviour["gone@example.net"] = (
        "data:550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown"
    )
    first = make_campaign({"en": "Week of action"}, lists=[partners])
    _send_through(postfix, app, worker_process, first.id)
    # Postfix took both: at send time nothing looked wrong.
    statuses = db.session.scalars(select(Delivery.status).where(Delivery.campaign_id == first.id))
    assert set(statuses) == {DeliveryStatus.SENT}

    _wait_for(
        "the bounce", lambda: _status("gone@example.net") == "bounced", postfix, worker_process
    )
    assert postfix.bounced("gone@example.net")
    shown = _show(app, "gone@example.net")
    assert shown["status"] == "bounced"
    [returned] = shown["returns"]
    assert (returned["kind"], returned["status_code"], returned["suppressed"]) == (
        "hard",
        "5.1.1",
        True,
    )
    assert "User unknown" in returned["diagnostic"]
    assert _status("alive@example.net") == "active"
    event = db.session.scalar(select(ReturnEvent))
    assert (event.kind.value, event.status_code, event.source) == ("hard", "5.1.1", "lmtp")
    row = db.session.scalar(select(Delivery).where(Delivery.id == event.delivery_id))
    assert (row.status, row.returned) == (DeliveryStatus.SENT, "bounced")  # history kept

    internet.reset()
    second = make_campaign({"en": "Second call"}, lists=[partners])
    _send_through(postfix, app, worker_process, second.id)
    _received_by(internet, "alive@example.net", postfix)
    mailed = db.session.scalars(
        select(Subscriber.email)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.campaign_id == second.id, Delivery.status == DeliveryStatus.SENT)
    ).all()
    assert mailed == ["alive@example.net"]
    assert all("gone@example.net" not in e.rcpt_tos for e in internet.envelopes)


def test_a_complaint_and_a_mailto_unsubscribe_come_back_through_the_mta(
    app, worker_process, internet, postfix
):
    internet.reset()
    partners = make_list("partners", "Partners")
    make_subscriber("angry@example.net", lists=[partners])
    make_subscriber("leaving@example.net", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    _send_through(postfix, app, worker_process, campaign.id)
    to_angry = _received_by(internet, "angry@example.net", postfix)
    to_leaving = _received_by(internet, "leaving@example.net", postfix)

    mailto = re.search(r"<mailto:([^?>]+)\?subject=([^>]+)>", to_leaving["List-Unsubscribe"])
    assert mailto is not None and mailto.group(1) == f"unsubscribe@{BOUNCE_DOMAIN}"
    with smtplib.SMTP("127.0.0.1", postfix.smtp_port) as relay:
        relay.sendmail(
            "leaving@example.net",
            [mailto.group(1)],
            f"From: leaving@example.net\r\nTo: {mailto.group(1)}\r\n"
            f"Subject: {mailto.group(2).replace('%20', ' ')}\r\n\r\n",
        )
        relay.sendmail(
            "feedback@example.net",
            [f"abuse@{BOUNCE_DOMAIN}"],
            arf("angry@example.net", to_angry.as_bytes()),
        )

    def left() -> bool:
        return (
            db.session.scalar(
                select(Subscription.status)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscriber.email == "leaving@example.net")
            )
            == SubscriptionStatus.UNSUBSCRIBED
        )

    _wait_for("the mailto unsubscribe", left, postfix, worker_process)
    _wait_for(
        "the complaint",
        lambda: _status("angry@example.net") == "complained",
        postfix,
        worker_process,
    )
    assert _show(app, "leaving@example.net")["subscriptions"] == [
        {"list": "partners", "status": "unsubscribed"}
    ]
    assert _show(app, "angry@example.net")["status"] == "complained"
    assert _status("leaving@example.net") == "active"  # leaving a list is not a complaint
