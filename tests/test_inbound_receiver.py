"""The SMTP/LMTP receiver: what it takes, what it refuses, and that nothing it said 250 to
is lost; then what the worker makes of it (attribution, replays, forgeries)."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.inbound import intake, processing
from app.inbound.receiver import ReceiverController
from app.models import (
    Delivery,
    InboundMessage,
    InboundStatus,
    ReturnEvent,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.returns import DOMAIN, arf, dsn, sent_delivery
from tests.support.sending import settings
from tests.support.smtp import free_port, listening


@pytest.fixture()
def receiver(app):
    controller = ReceiverController(app, "127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


def _stored() -> list[InboundMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def _bounced_subscriber() -> tuple[Subscriber, Delivery, str]:
    partners = make_list("partners", "Partners")
    subscriber = make_subscriber("gone@example.net", lists=[partners])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    delivery, token = sent_delivery(campaign, subscriber)
    return subscriber, delivery, token


def _process_all() -> list[InboundMessage]:
    processing.process(intake.claim_queued())
    return _stored()


def test_mail_for_our_addresses_is_stored_before_the_250(app, receiver, no_dispatcher):
    with smtplib.SMTP("127.0.0.1", receiver.port) as client:
        refused = client.sendmail(
            "MAILER-DAEMON@mta.example.net",
            [f"bounces+{'a' * 32}@{DOMAIN}", f"abuse@{DOMAIN}", f"unsubscribe@{DOMAIN}"],
            dsn("someone@example.net"),
        )
        assert refused == {}
    [message] = _stored()
    assert message.status == InboundStatus.QUEUED and message.source == "smtp"
    assert message.recipients == [
        f"bounces+{'a' * 32}@{DOMAIN}",
        f"abuse@{DOMAIN}",
        f"unsubscribe@{DOMAIN}",
    ]
    assert message.envelope_from == "MAILER-DAEMON@mta.example.net"


@pytest.mark.parametrize(
    "address",
    [
        "postmaster@example.org",
        f"bounces+{'a' * 32}@elsewhere.example",
        "bounces+short@example.org",
        "bounces+AAAA!!@example.org",
        "unsubscribe@example.org.evil.example",
    ],
)
def test_mail_for_any_other_address_is_refused_at_rcpt_and_not_stored(app, receiver, address):
    with smtplib.SMTP("127.0.0.1", receiver.port) as client:
        client.ehlo()
        client.mail("someone@example.net")
        code, reply = client.rcpt(address)
    assert code == 550 and b"5.1.1" in reply
    assert _stored() == []


def _lmtp(port: int, recipients: list[str], data: bytes) -> list[str]:
    """An LMTP conversation by hand (the standard library reads one reply after the data)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rwb")

        def reply() -> str:
            lines = []
            while True:
                line = stream.readline().decode().rstrip("\r\n")
                lines.append(line)
                if line[3:4] != "-":
                    return "\n".join(lines)

        def command(line: str) -> str:
            stream.write(line.encode() + b"\r\n")
            stream.flush()
            return reply()

        reply()  # greeting
        assert command("LHLO mta.example.net").startswith("250")
        assert command("MAIL FROM:<>").startswith("250")
        for recipient in recipients:
            assert command(f"RCPT TO:<{recipient}>").startswith("250")
        assert command("DATA").startswith("354")
        stream.write(data.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        stream.flush()
        replies = [reply() for _ in recipients]
        command("QUIT")
        return replies


def test_lmtp_gets_one_reply_per_recipient_and_one_stored_message(app, receiver, no_dispatcher):
    recipients = [f"abuse@{DOMAIN}", f"bounces+{'b' * 32}@{DOMAIN}"]
    replies = _lmtp(receiver.port, recipients, dsn("someone@example.net"))
    assert [r[:3] for r in replies] == ["250", "250"]
    [message] = _stored()
    assert message.source == "lmtp" and message.recipients == recipients


def test_an_oversized_message_is_refused_with_552_and_not_stored(app):
    with settings(app, INBOUND_MAX_BYTES=10_000):
        controller = ReceiverController(app, "127.0.0.1", free_port())
        controller.start()
    big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 300
    try:
        # An honest client hears it at MAIL FROM (SIZE); one that does not say the size, at
        # the end of the data.
        client = smtplib.SMTP("127.0.0.1", controller.port)
        with client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("", [f"abuse@{DOMAIN}"], big)
        assert refused.value.smtp_code == 552
        with smtplib.SMTP("127.0.0.1", controller.port) as client:
            client.ehlo()
            client.mail("")
            client.rcpt(f"abuse@{DOMAIN}")
            code, _ = client.data(big)
        assert code == 552
    finally:
        controller.stop()
    assert _stored() == []


def test_a_database_that_cannot_be_written_gets_451_so_the_mta_keeps_the_mail(
    app, receiver, monkeypatch
):
    def unavailable(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(intake, "accept", unavailable)
    client = smtplib.SMTP("127.0.0.1", receiver.port)
    with client, pytest.raises(smtplib.SMTPDataError) as deferred:
        client.sendmail("", [f"abuse@{DOMAIN}"], dsn("someone@example.net"))
    assert deferred.value.smtp_code == 451


def test_what_got_250_survives_a_kill_9_and_the_worker_applies_it(app, run_worker):
    subscriber, _delivery, token = _bounced_subscriber()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "inbound", "serve", "--port", str(port)],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            assert time.monotonic() < deadline and server.poll() is None, "receiver did not start"
            time.sleep(0.1)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("", [f"bounces+{token}@{DOMAIN}"], dsn("gone@example.net"))
        os.killpg(server.pid, signal.SIGKILL)  # right after the 250
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db.session.expire_all()
        if db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.BOUNCED:
            break
        db.session.rollback()
        time.sleep(0.2)
    assert db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.BOUNCED
    assert [m.status for m in _stored()] == [InboundStatus.APPLIED]


def test_the_same_dsn_twice_is_stored_once_and_a_replay_changes_nothing(app, no_dispatcher):
    subscriber, delivery, token = _bounced_subscriber()
    recipients = [f"bounces+{token}@{DOMAIN}"]
    report = dsn("gone@example.net", status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full")
    first = intake.accept(report, source="smtp", recipients=recipients)
    again = intake.accept(report, source="smtp", recipients=recipients)
    assert (again.id, again.duplicate) == (first.id, True)
    # The same report relayed again with a new Received line: other bytes, same news.
    replay = dsn(
        "gone@example.net",
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 Mailbox full",
        received="from mta2.example.net by mx.example.org",
    )
    intake.accept(replay, source="smtp", recipients=recipients)
    messages = _process_all()
    assert [m.status for m in messages] == [InboundStatus.APPLIED, InboundStatus.IGNORED]
    assert "already recorded" in messages[1].outcome
    assert db.session.scalar(select(func.count()).select_from(ReturnEvent)) == 1
    assert db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.ACTIVE


@pytest.mark.parametrize(
    ("recipient", "named", "why"),
    [
        # A token of the right shape that no message of ours carries.
        (f"bounces+{'c' * 32}@{DOMAIN}", "gone@example.net", "matches no message"),
        # Our real token, but the report names someone else: never them, never ours.
        ("{token}", "ceo@example.net", "not the address that message went to"),
        # No token at all, only an address: anyone can write that.
        (f"abuse@{DOMAIN}", "gone@example.net", "no VERP token or Message-ID"),
    ],
)
def test_forged_or_unattributable_bounces_change_nothing_and_say_why(
    app, no_dispatcher, caplog, recipient, named, why
):
    subscriber, _delivery, token = _bounced_subscriber()
    make_subscriber("ceo@example.net", lists=[make_list()])
    to = recipient.replace("{token}", f"bounces+{token}@{DOMAIN}")
    intake.accept(dsn(named), source="smtp", recipients=[to])
    [message] = _process_all()
    assert message.status == InboundStatus.IGNORED and why in message.outcome
    assert why in caplog.text
    assert set(db.session.scalars(select(Subscriber.status))) == {SubscriberStatus.ACTIVE}
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert db.session.scalar(select(func.count()).select_from(ReturnEvent)) == 0


def test_the_message_id_attributes_a_dsn_that_lost_its_token(app, no_dispatcher):
    subscriber, delivery, _token = _bounced_subscriber()
    intake.accept(
        dsn("gone@example.net", message_id=delivery.message_id),
        source="imap",
        recipients=[f"bounces@{DOMAIN}"],
    )
    [message] = _process_all()
    assert message.status == InboundStatus.APPLIED, message.outcome
    assert db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.BOUNCED


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n",
        b"Content-Type: multipart/report; boundary=\r\n\r\n--\r\n--",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nAction failed\r\nStatus: \xff\r\n",
    ],
)
def test_malformed_mail_is_stored_read_and_ignored_without_a_crash(app, no_dispatcher, raw):
    subscriber, _delivery, token = _bounced_subscriber()
    intake.accept(raw, source="smtp", recipients=[f"bounces+{token}@{DOMAIN}"])
    [message] = _process_all()
    assert message.status in (InboundStatus.IGNORED, InboundStatus.APPLIED)
    assert message.status != InboundStatus.FAILED


def test_a_complaint_with_a_masked_address_is_applied_by_its_token(app, no_dispatcher):
    # Feedback loops mask the complainer's address; the VERP token says whose mail it was.
    subscriber, delivery, token = _bounced_subscriber()
    original = f"Message-ID: {delivery.message_id}\r\nTo: gone@example.net\r\n\r\nHi\r\n"
    intake.accept(
        arf("redacted@example.net", original.encode()),
        source="smtp",
        recipients=[f"bounces+{token}@{DOMAIN}"],
    )
    [message] = _process_all()
    assert message.status == InboundStatus.APPLIED, message.outcome
    assert db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.COMPLAINED


def test_a_message_the_reader_fails_on_is_marked_failed_and_the_rest_are_applied(
    app, no_dispatcher, monkeypatch
):
    from app.inbound import parsing

    subscriber, _delivery, token = _bounced_subscriber()
    read = parsing.read_mail

    def breaks_on_one(raw: bytes, *args: object) -> list:
        if b"BREAK" in raw:
            raise RuntimeError("the reader broke")
        return read(raw, *args)

    monkeypatch.setattr(parsing, "read_mail", breaks_on_one)
    intake.accept(b"Subject: BREAK\r\n\r\n", source="smtp", recipients=[f"abuse@{DOMAIN}"])
    intake.accept(dsn("gone@example.net"), source="smtp", recipients=[f"bounces+{token}@{DOMAIN}"])
    broken, bounce = _process_all()
    assert broken.status == InboundStatus.FAILED and "the reader broke" in broken.outcome
    assert bounce.status == InboundStatus.APPLIED
    assert db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.BOUNCED
