"""Polling the bounce mailbox over IMAP and POP3 with TLS, against a real Dovecot of the
test's own: mail is stored before it leaves the server, stored once, and a bounce that
arrives this way bounces the subscriber."""

from __future__ import annotations

import email
import email.policy
import imaplib
import logging
import ssl
from collections.abc import Iterator
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.errors import ConfigError
from app.extensions import db
from app.inbound import intake, mailboxes, processing
from app.inbound.mailboxes import MailboxError, PollResult
from app.models import Delivery, DeliveryStatus, InboundMessage, Subscriber, SubscriberStatus
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.sending import settings

TOKEN = "abcdefghijklmnopqrstuvwxyz234567"
UNRELATED = (
    b"From: Ann <ann@example.net>\r\nTo: bounces@example.org\r\nSubject: Re: Week of action\r\n"
    b"Message-ID: <reply-1@example.net>\r\n\r\nThanks, see you there.\r\n"
)


def dsn(token: str = TOKEN, recipient: str = "ann@example.net", line: str = "") -> bytes:
    """A bounce as Postfix writes it (RFC 3464), for a message we sent with that token."""
    report = MIMEMultipart("report", f"report-{token}", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.net (Mail Delivery System)"
    report["To"] = f"bounces+{token}@example.org"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = "Tue, 08 Dec 2026 02:00:00 +0000"
    report["Message-ID"] = f"<20261208020000.{token[:8]}@mx.example.net>"
    report["Auto-Submitted"] = "auto-replied"
    report.attach(
        MIMEText(
            "This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform you "
            f"that your message could not be delivered to one or more recipients.\n{line}\n"
        )
    )
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_message["Arrival-Date"] = "Tue, 08 Dec 2026 01:59:59 +0000"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    per_recipient["Remote-MTA"] = "dns; mx.example.net"
    per_recipient["Diagnostic-Code"] = f"smtp; 550 5.1.1 <{recipient}>: User unknown"
    status = Message()
    status["Content-Type"] = "message/delivery-status"
    status.set_payload([per_message, per_recipient])
    report.attach(status)
    returned = Message()
    returned["Content-Type"] = "text/rfc822-headers"
    returned.set_payload(
        f"From: Solidarity Collectives <news@example.org>\nTo: {recipient}\n"
        f"Subject: Week of action\nMessage-ID: <{token}@example.org>\n"
    )
    report.attach(returned)
    return report.as_bytes(policy=email.policy.SMTP)


@pytest.fixture()
def dovecot() -> Iterator[Dovecot]:
    yield from _running(Dovecot())


def _running(server: Dovecot) -> Iterator[Dovecot]:
    try:
        server.start()
    except AssertionError as exc:
        server.stop()
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def stored() -> list[InboundMessage]:
    return list(db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def flags(server: Dovecot, folder: str = "INBOX") -> list[str]:
    """Each message's flags in a folder, seen through a second IMAP connection."""
    context = ssl.create_default_context(cafile=str(server.cafile))
    with imaplib.IMAP4_SSL("127.0.0.1", server.ports.imaps, ssl_context=context) as imap:
        imap.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
        imap.select(f'"{folder}"')
        _, data = imap.fetch("1:*", "(FLAGS)")
        return [item.decode() for item in data if isinstance(item, bytes)]


def test_imaps_stores_each_message_then_moves_it_to_the_processed_folder(app, dovecot):
    bounce = dsn()
    dovecot.deliver("dsn", bounce)
    dovecot.deliver("reply", UNRELATED)
    result = mailboxes.poll(dovecot.url("imaps", "/INBOX", processed="Processed"))
    assert result == PollResult(fetched=2, stored=2, duplicates=0, refused=0)
    assert sorted(m.raw for m in stored()) == sorted([bounce, UNRELATED])
    assert {m.source for m in stored()} == {"imap"}
    assert dovecot.messages() == []
    assert dovecot.messages("Processed") == sorted([bounce, UNRELATED])
    assert len(flags(dovecot, "Processed")) == 2


def test_a_second_poll_stores_nothing_new(app, dovecot):
    dovecot.deliver("dsn", dsn())
    url = dovecot.url("imaps", processed="Processed")
    assert mailboxes.poll(url).stored == 1
    assert mailboxes.poll(url) == PollResult(0, 0, 0, 0)
    assert len(stored()) == 1


def test_imap_with_starttls_and_no_processed_folder_deletes_what_it_stored(app, dovecot):
    dovecot.deliver("dsn", dsn())
    dovecot.deliver("reply", UNRELATED)
    assert mailboxes.poll(dovecot.url("imap", starttls="1")).stored == 2
    assert len(stored()) == 2
    assert dovecot.messages() == []
    assert not (dovecot.maildir / ".Processed").exists()
    assert ", TLS," in dovecot.login_line()


def test_without_move_it_copies_flags_deleted_and_expunges(app):
    # A server that offers neither MOVE nor UIDPLUS: COPY, \Deleted, EXPUNGE.
    for server in _running(Dovecot(extra="imap_capability = IMAP4rev1 LITERAL+")):
        server.deliver("dsn", dsn())
        result = mailboxes.poll(server.url("imaps", processed="Done"))
        assert result == PollResult(1, 1, 0, 0)
        assert server.messages() == [] and server.messages("Done") == [dsn()]


@pytest.mark.parametrize("scheme,query", [("pop3s", {}), ("pop3", {"starttls": "1"})])
def test_pop3_stores_then_deletes_even_lines_poplib_would_refuse(app, dovecot, scheme, query):
    long_line = dsn(line="x" * 5000)  # poplib alone stops at 2048 bytes a line
    dovecot.deliver("dsn", long_line)
    dovecot.deliver("reply", UNRELATED)
    result = mailboxes.poll(dovecot.url(scheme, **query))
    assert result == PollResult(fetched=2, stored=2, duplicates=0, refused=0)
    assert sorted(m.raw for m in stored()) == sorted([long_line, UNRELATED])
    assert {m.source for m in stored()} == {"pop3"}
    assert dovecot.messages() == []


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_mail_stored_before_a_poll_stopped_is_stored_once_and_then_removed(app, dovecot, scheme):
    # A poll that stopped after storing (committed) and before the move or delete leaves
    # the message on the server: the next poll finds the same bytes already stored.
    bounce = dsn()
    dovecot.deliver("dsn", bounce)
    dovecot.deliver("reply", UNRELATED)
    intake.accept(bounce, source=scheme[:4], recipients=[])
    result = mailboxes.poll(dovecot.url(scheme))
    assert result == PollResult(fetched=2, stored=1, duplicates=1, refused=0)
    assert sorted(m.raw for m in stored()) == sorted([bounce, UNRELATED])
    assert dovecot.messages() == []


def test_a_processed_folder_that_cannot_be_created_stops_the_poll_before_any_fetch(app, dovecot):
    dovecot.deliver("dsn", dsn())
    with pytest.raises(MailboxError) as raised:
        mailboxes.poll(dovecot.url("imaps", processed="~Processed"))
    assert "the folder ~Processed is missing and could not be created" in str(raised.value)
    assert stored() == [] and dovecot.messages() == [dsn()]


def test_a_folder_that_does_not_exist_is_named_in_the_error(app, dovecot):
    with pytest.raises(MailboxError, match=r"/Bounces: the server answered: SELECT Bounces: "):
        mailboxes.poll(dovecot.url("imaps", "/Bounces"))


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_a_wrong_password_is_a_clear_error_that_never_shows_a_password(
    app, dovecot, scheme, caplog
):
    caplog.set_level(logging.DEBUG)
    dovecot.deliver("dsn", dsn())
    url = dovecot.url(scheme, password="wrong-Pass-42")
    with pytest.raises(MailboxError) as raised:
        mailboxes.poll(url)
    message = str(raised.value)
    assert f"the server refused the login of {USER}" in message
    assert f"{scheme}://{USER}@127.0.0.1:" in message
    with settings(app, BOUNCE_MAILBOX=url):
        assert mailboxes.poll_configured() is None
    assert "the bounce mailbox was not polled" in caplog.text
    for secret in ("wrong-Pass-42", PASSWORD):
        assert secret not in message and secret not in caplog.text
    assert stored() == [] and len(dovecot.messages()) == 1


@pytest.mark.parametrize(
    "url,expected",
    [
        ("imap://u:{pw}@127.0.0.1:{port}/INBOX", "would send the password in clear text"),
        ("pop3://u:{pw}@127.0.0.1:{port}", "use pop3s://, add ?starttls=1, or ?insecure=1"),
        ("imaps://u:{pw}@127.0.0.1:{port}?starttls=1", "starttls and insecure apply only"),
        ("imap://u:{pw}@127.0.0.1:{port}?starttls=1&insecure=1", "not both"),
        ("imaps://u:{pw}@127.0.0.1:{port}?procesed=Done", "unknown option procesed"),
        ("pop3s://u:{pw}@127.0.0.1:{port}?processed=Done", "POP3 has no folders"),
        ("imaps://u:{pw}@127.0.0.1:{port}?processed=D%C3%A9j%C3%A0", "plain ASCII name"),
        ("imaps://u:{pw}@127.0.0.1:{port}?starttls=maybe", "starttls must be 1 or 0"),
        ("imaps://u:{pw}@127.0.0.1:{port}?cafile=/nonexistent/ca.pem", "not a readable file"),
        ("imaps://u@127.0.0.1:{port}", "needs a server, an account and its password"),
        ("imaps://u:{pw}@127.0.0.1:99999", "the port must be a number"),
        ("https://u:{pw}@127.0.0.1:{port}", "must start with imaps://"),
    ],
)
def test_a_mailbox_url_that_is_unsafe_or_wrong_is_refused_before_connecting(
    app, dovecot, url, expected
):
    dovecot.deliver("dsn", dsn())
    with pytest.raises(ConfigError) as raised:
        mailboxes.poll(url.format(pw=quote(PASSWORD, safe=""), port=dovecot.ports.imap))
    assert expected in str(raised.value)
    assert "TOCSIN_BOUNCE_MAILBOX" in str(raised.value)
    assert PASSWORD not in str(raised.value) and quote(PASSWORD, safe="") not in str(raised.value)
    assert "user=<u>" not in dovecot.log  # nobody tried to log in
    assert stored() == []


def test_plain_imap_is_allowed_only_when_asked_for(app, dovecot):
    dovecot.deliver("dsn", dsn())
    assert mailboxes.poll(dovecot.url("imap", insecure="1", cafile="")).stored == 1
    assert ", secured," in dovecot.login_line()  # loopback, no TLS


@pytest.mark.parametrize(
    "scheme,query", [("imaps", {}), ("pop3s", {}), ("imap", {"starttls": "1"})]
)
def test_a_certificate_of_a_private_ca_without_cafile_fails_verification(
    app, dovecot, scheme, query
):
    dovecot.deliver("dsn", dsn())
    with pytest.raises(MailboxError) as raised:
        mailboxes.poll(dovecot.url(scheme, cafile="", **query))
    assert "the server's TLS certificate could not be verified" in str(raised.value)
    assert "add &cafile=PATH to TOCSIN_BOUNCE_MAILBOX" in str(raised.value)
    assert stored() == [] and len(dovecot.messages()) == 1


def test_a_certificate_for_another_name_fails_verification(app, dovecot):
    url = dovecot.url("imaps").replace("@127.0.0.1:", "@localhost:")
    with pytest.raises(MailboxError, match="could not be verified.*mismatch"):
        mailboxes.poll(url)


def test_a_server_nobody_listens_on_is_a_clear_error(app, dovecot):
    url = dovecot.url("imaps", cafile="")
    dovecot.stop()
    with pytest.raises(MailboxError, match=r"imaps://bounces@127\.0\.0\.1:\d+/INBOX: cannot reach"):
        mailboxes.poll(url)


def test_mail_too_large_to_store_stays_flagged_in_the_folder_and_is_logged_once(
    app, dovecot, caplog
):
    big = dsn(line="y" * 6000)
    dovecot.deliver("big", big)
    dovecot.deliver("reply", UNRELATED)
    url = dovecot.url("imaps", processed="Processed")
    with settings(app, INBOUND_MAX_BYTES=5000), caplog.at_level(logging.WARNING):
        assert mailboxes.poll(url) == PollResult(fetched=2, stored=1, duplicates=0, refused=1)
        assert mailboxes.poll(url) == PollResult(0, 0, 0, 0)
    assert [m.raw for m in stored()] == [UNRELATED]
    assert dovecot.messages() == [big] and dovecot.messages("Processed") == [UNRELATED]
    assert "TocsinRefused" in flags(dovecot)[0] and "\\Flagged" in flags(dovecot)[0]
    refusals = [r for r in caplog.records if "over the limit of 5000 bytes" in r.getMessage()]
    assert len(refusals) == 1


def test_mail_too_large_goes_to_the_refused_folder_when_one_is_named(app, dovecot):
    big = dsn(line="y" * 6000)
    dovecot.deliver("big", big)
    with settings(app, INBOUND_MAX_BYTES=5000):
        result = mailboxes.poll(dovecot.url("imaps", refused="Too large"))
    assert result == PollResult(fetched=1, stored=0, duplicates=0, refused=1)
    assert stored() == [] and dovecot.messages("Too large") == [big]


def test_pop3_leaves_mail_too_large_on_the_server(app, dovecot):
    big = dsn(line="y" * 6000)
    dovecot.deliver("big", big)
    dovecot.deliver("reply", UNRELATED)
    with settings(app, INBOUND_MAX_BYTES=5000):
        result = mailboxes.poll(dovecot.url("pop3s"))
    assert result == PollResult(fetched=2, stored=1, duplicates=0, refused=1)
    assert [m.raw for m in stored()] == [UNRELATED] and dovecot.messages() == [big]


def test_a_bounce_fetched_from_the_mailbox_bounces_the_subscriber(app, dovecot, no_dispatcher):
    members = make_list("members", "Members")
    ann = make_subscriber("ann@example.net", lists=[members])
    campaign = make_campaign({"en": "Week of action"}, lists=[members])
    db.session.add(
        Delivery(
            campaign_id=campaign.id,
            subscriber_id=ann.id,
            status=DeliveryStatus.SENT,
            message_id=f"<{TOKEN}@example.org>",
        )
    )
    db.session.commit()
    dovecot.deliver("dsn", dsn())
    dovecot.deliver("reply", UNRELATED)
    assert mailboxes.poll(dovecot.url("imaps", processed="Processed")).stored == 2
    processing.process(intake.claim_queued())
    db.session.expire_all()
    assert db.session.get(Subscriber, ann.id).status == SubscriberStatus.BOUNCED
    outcomes = {m.raw: (m.status, m.outcome) for m in stored()}
    assert outcomes[dsn()][0] == "applied" and "hard 5.1.1" in outcomes[dsn()][1]
    assert outcomes[UNRELATED][0] == "ignored"
    parsed = email.message_from_bytes(dovecot.messages("Processed")[0], policy=email.policy.default)
    assert parsed["Subject"]  # the mail itself is kept, in Processed


def test_the_cli_polls_once_and_prints_the_counts(app, dovecot):
    dovecot.deliver("dsn", dsn())
    runner = app.test_cli_runner()
    with settings(app, BOUNCE_MAILBOX=dovecot.url("imaps")):
        result = runner.invoke(args=["inbound", "poll"])
    assert result.exit_code == 0, result.output
    assert result.output == "fetched 1, stored 1, already stored 0, refused 0\n"
    with settings(app, BOUNCE_MAILBOX=dovecot.url("imaps", password="nope")):
        result = runner.invoke(args=["inbound", "poll"])
    assert result.exit_code == 1 and "refused the login of bounces" in result.output
    with settings(app, BOUNCE_MAILBOX=""):
        result = runner.invoke(args=["inbound", "poll"])
    assert result.exit_code == 1 and "TOCSIN_BOUNCE_MAILBOX is not set" in result.output


def test_the_worker_polls_the_configured_mailbox_on_beat(app, dovecot):
    import worker
    from worker.tasks import poll_bounce_mailbox

    entry = worker.celery.conf.beat_schedule["poll-bounce-mailbox"]
    assert entry["task"] == "worker.tasks.poll_bounce_mailbox" and entry["schedule"] == 60.0
    dovecot.deliver("dsn", dsn())
    poll_bounce_mailbox()  # not configured: nothing happens
    assert stored() == [] and len(dovecot.messages()) == 1
    with settings(worker.flask_app, BOUNCE_MAILBOX=dovecot.url("pop3s")):
        poll_bounce_mailbox()
    assert [m.raw for m in stored()] == [dsn()] and dovecot.messages() == []


def test_the_settings_come_from_the_environment():
    from app.config import from_environment

    read = from_environment(
        {
            "TOCSIN_BOUNCE_MAILBOX": "pop3s://b:p@mail.example.org",
            "TOCSIN_BOUNCE_MAILBOX_INTERVAL": "30",
        }
    )
    assert read == {
        "BOUNCE_MAILBOX": "pop3s://b:p@mail.example.org",
        "BOUNCE_MAILBOX_INTERVAL": 30.0,
    }
    with pytest.raises(ConfigError, match="TOCSIN_BOUNCE_MAILBOX_INTERVAL must be a number"):
        from_environment({"TOCSIN_BOUNCE_MAILBOX_INTERVAL": "a minute"})
