"""Reading mail that came back: a corpus of real notices from Postfix, Exim, Exchange and
Office 365, Gmail, Yahoo!, qmail, Sendmail, feedback loops (tests/corpus/returns, see its
PROVENANCE.md), what each one reads as, what a stranger's broken or hostile mail reads as
(nothing, never an exception), and what the findings do to a subscriber once applied."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from app.extensions import db
from app.inbound import dsn, intake, processing
from app.inbound.applying import kind_of
from app.inbound.findings import Said
from app.inbound.parsing import read_mail
from app.models import (
    BounceScore,
    Campaign,
    Delivery,
    InboundMessage,
    InboundStatus,
    ReturnEvent,
    ReturnKind,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from app.tokens import tokens
from tests.support.corpus import corpus, corpus_names, make_sent_delivery, new_token

DOMAIN = "bounces.example.org"
F, C = Said.FAILED, Said.COMPLAINT

# What each sample reads as: (said, address, status) for every finding, in order.
EXPECTED: dict[str, list[tuple[Said, str, str]]] = {
    # Postfix: RFC 3464, the status as written, 4.x.x kept even with "Action: failed".
    "sisimai-lhost-postfix-01.eml": [(F, "r@p351355.pool.example.ne.jp", "5.1.1")],
    "sisimai-lhost-postfix-02.eml": [
        (F, "filtered@example.co.jp", "5.2.1"),
        (F, "userunknown@example.co.jp", "5.1.1"),
    ],
    "sisimai-lhost-postfix-33.eml": [(F, "userunknown@libsisimai.org", "5.1.1")],
    "sisimai-lhost-postfix-37.eml": [(F, "nyaan@example.org", "4.4.1")],
    "sisimai-lhost-postfix-63.eml": [(F, "neko@nyaaan.example.org", "5.2.2")],
    "derived-postfix-4.2.2-failed.eml": [(F, "nyaan@example.org", "4.2.2")],
    "flufl-postfix_01.txt": [(F, "xxxxx@local.ie", "5.1.1")],
    # Exim: its own text (flufl.bounce), or RFC 3464 when configured to.
    "sisimai-lhost-exim-02.eml": [
        (F, "kijitora@example.jp", "5.1.1"),
        (F, "sabatora@example.jp", "5.2.1"),
    ],
    "sisimai-lhost-exim-06.eml": [(F, "kijitora@example.com", "")],
    "sisimai-lhost-exim-29.eml": [(F, "kijitora@example.co.jp", "5.0.0")],
    "sisimai-lhost-exim-38.eml": [],  # "delayed 24 hours": a warning
    "sisimai-lhost-exim-43.eml": [(F, "kijitora@example.net", "5.7.1")],  # Status: 5.0.0
    "flufl-exim_01.txt": [(F, "delangen@its.tudelft.nl", "5.1.1")],
    "flufl-simple_03.txt": [],  # a delay warning
    # Exchange, Office 365, Outlook.com.
    "sisimai-lhost-exchange2007-01.eml": [(F, "mikeneko@example.co.jp", "5.1.1")],
    "sisimai-lhost-exchange2007-04.eml": [(F, "neko-nyaan@example.jp", "5.7.1")],
    "sisimai-lhost-office365-11.eml": [(F, "kijitora@cr3.neko.nyaan.jp", "5.1.1")],
    "sisimai-lhost-office365-12.eml": [(F, "kijitora@cr.neko.nyaan.jp", "5.2.2")],
    "sisimai-lhost-outlook-02.eml": [(F, "kijitora@example.jp", "5.1.1")],
    "sisimai-lhost-outlook-06.eml": [],  # Action: delayed
    "flufl-microsoft_01.txt": [(F, "djbennett@ikon.com", "")],
    "flufl-groupwise_02.txt": [(F, "omarmo@thebas.com", "")],  # "Mailman 2.0.12" is no status
    # Gmail, Yahoo!, qmail.
    "sisimai-lhost-gmail-01.eml": [(F, "userunknown@example.jp", "5.1.1")],
    "sisimai-lhost-gmail-06.eml": [],  # Gmail's "(Delay)" notice: a warning
    "sisimai-lhost-gmail-16.eml": [(F, "mailboxfull@bouncehammer.jp", "5.2.2")],
    "sisimai-lhost-yahoo-03.eml": [(F, "kijitora@example.jp", "5.1.1")],
    "sisimai-lhost-yahoo-04.eml": [(F, "kijitora@example.co.jp", "5.2.2")],
    "flufl-yahoo_01.txt": [(F, "subscribe.motorcycles@listsociety.com", "4.4.1")],
    "sisimai-lhost-qmail-06.eml": [(F, "kijitora@example.jp", "4.2.2")],
    "sisimai-lhost-qmail-08.eml": [(F, "shironeko@example.ad.jp", "")],
    "sisimai-lhost-qmail-17.eml": [
        (F, "mailboxfull@libsisimai.net", "5.2.2"),
        (F, "userunknown@libsisimai.net", "5.1.1"),
    ],
    "flufl-qmail_01.txt": [(F, "psadisc@wwwmail.n-h.de", "")],
    # Sendmail and other RFC 3464 writers.
    "sisimai-lhost-sendmail-01.eml": [(F, "userunknown@bouncehammer.jp", "5.1.1")],
    "sisimai-lhost-sendmail-02.eml": [
        (F, "userunknown@example.org", "5.1.1"),
        (F, "filtered@example.com", "5.2.1"),
    ],
    "sisimai-lhost-sendmail-13.eml": [],  # its Action field is broken ("ction: failed")
    "sisimai-lhost-sendmail-29.eml": [],  # Action: delayed
    "sisimai-lhost-sendmail-54.eml": [(F, "kijitora@neko.example.jp", "4.4.7")],
    "flufl-sendmail_01.txt": [(F, "zzzzz@nfg.nl", ""), (F, "zzzzz@shaft.coal.nl", "")],
    "flufl-dsn_05.txt": [],  # Action: delayed
    "flufl-dsn_09.txt": [(F, "pr@allen-heath.com", "5.0.0")],  # X.400 Final-Recipient
    # Its delivery-status part lost its boundary line; one group in three is "delayed".
    "sisimai-rfc3464-35.eml": [
        (F, "kijitora@nyaan.example.com", "5.0.0"),
        (F, "mikeneko@neko.example.or.jp", "5.0.0"),
    ],
    "sisimai-rfc3834-01.eml": [],  # an out-of-office reply
    # Its Diagnostic-Code goes on over unindented lines, before Status, Action and the address.
    "sisimai-rhost-messagelabs-01.eml": [(F, "kijitora@example.messagelabs.com", "5.0.0")],
    # Feedback loops: RFC 5965 ARF and Microsoft's JMRP.
    "rfc5965-b2-abuse.eml": [(C, "user@example.com", "")],
    "derived-rfc5965-not-spam.eml": [],
    "sisimai-arf-01.eml": [(C, "", "")],  # RFC 6590 Redacted-Address: no address to go by
    "sisimai-arf-02.eml": [(C, "this-local-part-does-not-exist-on-yahoo@yahoo.com", "")],
    "sisimai-arf-11.eml": [(C, "", "")],
    "sisimai-arf-12.eml": [(C, "", "")],  # opt-out
    "sisimai-arf-16.eml": [
        (C, f"{name}@example.{tld}", "")
        for name, tld in [
            ("kijitora", "com"),
            ("sironeko", "com"),
            ("mikeneko", "com"),
            ("sabatora", "com"),
            ("sirokiji", "org"),
            ("kuroneko", "com"),
            ("sabineko", "com"),
        ]
    ],
    "sisimai-arf-18.eml": [],  # auth-failure (a DMARC report), not a reader's complaint
    "sisimai-arf-22.eml": [(C, "kijitora@example.com", "")],
    "sisimai-arf-26.eml": [],  # Apple Mail's unsubscribe mail, to an address not ours
}


def test_every_corpus_sample_has_its_expected_reading() -> None:
    assert sorted(EXPECTED) == corpus_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_sample_reads_as_expected(name: str) -> None:
    findings = read_mail(corpus(name), [], DOMAIN)
    assert [(f.said, f.address, f.status) for f in findings] == EXPECTED[name]
    assert all(type(f.said) is Said for f in findings)
    assert all(f.verp == "" for f in findings)  # sent to nobody's VERP address of ours


def test_a_dsn_gives_action_diagnostic_and_the_returned_message_id() -> None:
    (finding,) = read_mail(corpus("sisimai-lhost-postfix-33.eml"), [], DOMAIN)
    assert finding.reader == "dsn" and finding.action == "failed"
    assert finding.diagnostic == "550 5.1.1 <userunknown@libsisimai.org>... User Unknown"
    assert finding.message_id == "<20150429233445.BB8FFFFC16@p6.libsisimai.org>"


def test_a_vague_dsn_status_gives_way_to_the_code_in_its_diagnostic() -> None:
    (finding,) = read_mail(corpus("sisimai-lhost-exim-43.eml"), [], DOMAIN)
    assert finding.status == "5.7.1"
    assert finding.diagnostic.startswith("550 5.7.1 Connections not accepted")


@pytest.mark.parametrize(
    ("status", "diagnostic", "read"),
    [
        ("5.0.0", "550 5.1.1 <ann@example.org>: Recipient address rejected", "5.1.1"),
        ("5.0.0 (permanent failure)", "550 user unknown", "5.0.0"),
        ("", "smtp; 550 5.1.1 user unknown", "5.1.1"),
        ("unknown", "host [192.0.2.1] said: 421 4.4.2 timeout", "4.4.2"),
        ("4.0.0", "550 5.1.1 user unknown", "4.0.0"),  # a 4.x status is never made hard
        ("4.2.2", "552 5.2.2 mailbox full", "4.2.2"),
        ("", "host 10.5.1.1 refused: Mailman 2.0.12", ""),
    ],
)
def test_the_status_of_a_dsn_group(status: str, diagnostic: str, read: str) -> None:
    assert dsn.status_of(status, diagnostic) == read


def test_a_heuristic_reading_gives_each_address_what_was_said_about_it() -> None:
    findings = read_mail(corpus("sisimai-lhost-qmail-17.eml"), [], DOMAIN)
    assert [(f.address, f.status) for f in findings] == [
        ("mailboxfull@libsisimai.net", "5.2.2"),
        ("userunknown@libsisimai.net", "5.1.1"),
    ]
    assert "552 5.2.2" in findings[0].diagnostic and "550 5.1.1" in findings[1].diagnostic
    # qmail quotes the returned message in its text; its Message-ID is still found.
    assert {f.message_id for f in findings} == {"<20240624090401.44656.qmail@nq.example.jp>"}


@pytest.mark.parametrize(
    "sender", [b"", b"From:\r\n", b"From: MAILER-DAEMON@\xff\xfeexample.jp\r\n"]
)
def test_a_notice_with_no_or_an_8_bit_sender_is_still_read(sender: bytes) -> None:
    # Either made one of flufl.bounce's detectors raise, before the qmail one had run.
    raw = corpus("sisimai-lhost-qmail-17.eml")
    line = next(line for line in raw.split(b"\r\n") if line.startswith(b"From: "))
    findings = read_mail(raw.replace(line + b"\r\n", sender, 1), [], DOMAIN)
    assert [(f.address, f.status) for f in findings] == [
        ("mailboxfull@libsisimai.net", "5.2.2"),
        ("userunknown@libsisimai.net", "5.1.1"),
    ]


def test_ten_megabytes_of_short_lines_read_as_nothing() -> None:
    raw = b"From: MAILER-DAEMON@example.jp\nSubject: failure notice\n\n" + b"a\n" * 5_000_000
    assert read_mail(raw, [f"bounces+{new_token()}@{DOMAIN}"], DOMAIN) == []


def test_the_verp_token_is_found_in_a_return_path_quoted_in_the_text() -> None:
    token = new_token()
    raw = corpus("sisimai-lhost-qmail-17.eml").replace(
        b"Return-Path: <kijitora@nq.example.jp>",
        f"Return-Path: <bounces+{token}@{DOMAIN}>".encode(),
    )
    assert {f.verp for f in read_mail(raw, [], DOMAIN)} == {token}


def test_postfix_action_failed_with_a_4xx_status_stays_soft() -> None:
    (finding,) = read_mail(corpus("derived-postfix-4.2.2-failed.eml"), [], DOMAIN)
    assert (finding.action, finding.status) == ("failed", "4.2.2")
    assert kind_of(finding) is ReturnKind.SOFT


@pytest.mark.parametrize(
    "name", ["sisimai-lhost-exim-06.eml", "sisimai-lhost-qmail-06.eml", "flufl-yahoo_01.txt"]
)
def test_a_heuristic_permanent_verdict_alone_never_makes_a_hard_bounce(name: str) -> None:
    (finding,) = read_mail(corpus(name), [], DOMAIN)
    assert finding.reader == "flufl" and finding.permanent is True
    assert kind_of(finding) is ReturnKind.SOFT


@pytest.mark.parametrize(
    "name", ["sisimai-lhost-gmail-06.eml", "sisimai-lhost-exim-38.eml", "flufl-simple_03.txt"]
)
def test_a_delay_warning_without_a_report_reads_as_nothing(name: str) -> None:
    # flufl.bounce calls these temporary failures: the mail may still arrive, so nothing
    # is scored (three warnings in a month would otherwise suppress a reachable reader).
    assert read_mail(corpus(name), [f"bounces+{new_token()}@{DOMAIN}"], DOMAIN) == []


@pytest.mark.parametrize(
    "name",
    ["sisimai-lhost-outlook-06.eml", "sisimai-lhost-sendmail-29.eml", "flufl-dsn_05.txt"],
)
def test_a_delayed_dsn_is_a_warning_and_reads_as_nothing(name: str) -> None:
    assert read_mail(corpus(name), [f"bounces+{new_token()}@{DOMAIN}"], DOMAIN) == []


def test_the_verp_token_of_the_envelope_is_on_every_finding() -> None:
    token = new_token()
    findings = read_mail(
        corpus("sisimai-lhost-postfix-02.eml"), [f"bounces+{token}@{DOMAIN}"], DOMAIN
    )
    assert [f.verp for f in findings] == [token, token]


def test_a_mailbox_copy_gives_the_verp_token_of_its_delivery_headers() -> None:
    token = new_token()
    raw = f"Delivered-To: Bounces+{token}@{DOMAIN.upper()}\n".encode() + corpus(
        "sisimai-lhost-postfix-33.eml"
    )
    (finding,) = read_mail(raw, [], DOMAIN)
    assert finding.verp == token


def test_the_verp_token_is_found_in_the_returned_return_path_when_the_envelope_lost_it() -> None:
    token = new_token()
    raw = corpus("sisimai-lhost-postfix-33.eml").replace(
        b"Return-Path: <root@p6.libsisimai.org>",
        f"Return-Path: <bounces+{token}@{DOMAIN}>".encode(),
    )
    assert raw != corpus("sisimai-lhost-postfix-33.eml")
    (finding,) = read_mail(raw, [f"postmaster@{DOMAIN}"], DOMAIN)
    assert finding.verp == token


def test_a_dsn_whose_returned_headers_carry_our_message_id() -> None:
    ours = f"<{new_token()}@example.org>"
    raw = corpus("sisimai-lhost-postfix-33.eml").replace(
        b"<20150429233445.BB8FFFFC16@p6.libsisimai.org>", ours.encode()
    )
    (finding,) = read_mail(raw, [], DOMAIN)
    assert (finding.message_id, finding.verp) == (ours, "")


def test_an_arf_report_at_abuse_without_verp_names_the_reader_and_the_message() -> None:
    (finding,) = read_mail(corpus("rfc5965-b2-abuse.eml"), [f"abuse@{DOMAIN}"], DOMAIN)
    assert (finding.said, finding.reader, finding.verp) == (Said.COMPLAINT, "arf", "")
    assert finding.address == "user@example.com"
    assert finding.message_id == "<8787KJKJ3K4J3K4J3K4J3.mail@example.net>"
    assert kind_of(finding) is ReturnKind.COMPLAINT


def test_a_not_spam_report_is_no_complaint_even_at_a_verp_address() -> None:
    raw = corpus("derived-rfc5965-not-spam.eml")
    assert read_mail(raw, [f"bounces+{new_token()}@{DOMAIN}"], DOMAIN) == []


def mailto(subject: str, body: str = "") -> bytes:
    return (
        f"From: ann@example.net\nTo: unsubscribe@{DOMAIN}\nSubject: {subject}\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


@pytest.mark.parametrize(
    ("raw", "token"),
    [
        (mailto("unsubscribe WyJhIiwiYiJd.Sig-_x"), "WyJhIiwiYiJd.Sig-_x"),
        (mailto("Re: RE:  UNSUBSCRIBE   WyJhIiwiYiJd.Sig  "), "WyJhIiwiYiJd.Sig"),
        (mailto("=?utf-8?q?unsubscribe_WyJhIiwiYiJd=2ESig?="), "WyJhIiwiYiJd.Sig"),
        (mailto("Please stop", "\n  unsubscribe WyJhIiwiYiJd.Sig\nthanks"), "WyJhIiwiYiJd.Sig"),
        (mailto("unsubscribe"), ""),
        (mailto("Please stop", "I never signed up"), ""),
        (b"\xff\xfe garbage without headers", ""),
    ],
)
def test_a_mailto_unsubscribe_gives_its_token_or_an_empty_one(raw: bytes, token: str) -> None:
    findings = read_mail(raw, [f"Unsubscribe@{DOMAIN}"], DOMAIN)
    assert [(f.said, f.token, f.reader) for f in findings] == [(Said.UNSUBSCRIBE, token, "mailto")]


def test_unsubscribe_mail_to_another_domain_is_no_unsubscribe() -> None:
    assert read_mail(mailto("unsubscribe abc"), ["unsubscribe@elsewhere.example"], DOMAIN) == []


HOSTILE = {
    "empty": b"",
    "binary": random.Random(5965).randbytes(64 * 1024),
    "no boundary": b"Content-Type: multipart/report; report-type=delivery-status\n\n--x\n\n",
    "unknown charset": corpus("sisimai-lhost-postfix-33.eml").replace(
        b"charset=us-ascii", b"charset=x-no-such-charset"
    ),
    "8-bit headers": b"Subject: \xff\xfe\x00\nFrom: \x80@\x81\nTo: =?bogus?b?////?=\n\n\xff\x00",
    "base64 report": (
        b"Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-"
        b"status\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!\n--b--\n"
    ),
    "nested bomb": b"Content-Type: multipart/mixed; boundary=b\n\n"
    + b"--b\nContent-Type: multipart/mixed; boundary=b\n\n" * 3000,
    "headers only": b"Content-Type: message/feedback-report\n",
    "folded everything": b'Content-Type:\n multipart/report;\n\tboundary=\n "z"\n\n--z\n',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_or_hostile_mail_never_raises(name: str) -> None:
    for recipients in ([], [f"bounces+{new_token()}@{DOMAIN}"], [f"unsubscribe@{DOMAIN}"]):
        assert isinstance(read_mail(HOSTILE[name], recipients, DOMAIN), list)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_truncated_sample_never_raises(name: str) -> None:
    raw = corpus(name)
    for cut in (len(raw) // 5, len(raw) // 2, len(raw) - 40):
        assert isinstance(read_mail(raw[:cut], [], DOMAIN), list)


@pytest.mark.parametrize(
    "name", ["sisimai-lhost-postfix-33.eml", "sisimai-lhost-qmail-17.eml", "rfc5965-b2-abuse.eml"]
)
def test_a_five_megabyte_report_is_read_whole(name: str) -> None:
    raw = corpus(name)
    newline = b"\r\n" if b"\r\n" in raw else b"\n"
    body = b"A line of the returned message, 192.0.2.1, 5.1.1 <x@example.com>" + newline
    # Inside the returned message: before the closing boundary, or at the end of plain text.
    end = raw.rstrip().rfind(newline + b"--") if b"multipart/" in raw else len(raw)
    big = raw[:end] + newline + body * 80_000 + raw[end:]
    assert len(big) > 5_000_000
    findings = read_mail(big, [], DOMAIN)
    assert [(f.said, f.address, f.status) for f in findings] == EXPECTED[name]


def test_a_message_nested_thousands_deep_reads_as_nothing() -> None:
    level = b"--b\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=b\n\n"
    raw = b"Content-Type: multipart/mixed; boundary=b\n\n" + level * 120_000
    assert 9_000_000 < len(raw) < 10 << 20
    assert read_mail(raw, [f"bounces+{new_token()}@{DOMAIN}"], DOMAIN) == []


# Through the return path: stored, claimed, processed, applied to a subscriber.


def receive(raw: bytes, recipients: list[str], source: str = "lmtp") -> InboundMessage:
    """Store a message as an intake would, then claim and process it as the worker would."""
    accepted = intake.accept(raw, source=source, recipients=recipients)
    processing.process(intake.claim_queued())
    db.session.expire_all()
    message = db.session.get(InboundMessage, accepted.id)
    assert message is not None
    return message


def state(subscriber_id: int, delivery_id: int) -> tuple[str, int, float, str | None]:
    subscriber = db.session.get(Subscriber, subscriber_id)
    delivery = db.session.get(Delivery, delivery_id)
    assert subscriber is not None and delivery is not None
    suppressed = len(db.session.scalars(select(Suppression.id)).all())
    score = db.session.scalar(
        select(BounceScore.score).where(BounceScore.subscriber_id == subscriber_id)
    )
    return subscriber.status, suppressed, score or 0.0, delivery.returned


def test_a_postfix_hard_bounce_at_our_verp_address_bounces_and_suppresses(
    app, no_dispatcher
) -> None:
    sent = make_sent_delivery("ann@example.net")
    raw = corpus("sisimai-lhost-postfix-33.eml").replace(
        b"userunknown@libsisimai.org", b"ann@example.net"
    )
    message = receive(raw, [f"bounces+{sent.token}@example.org"])
    assert message.status == InboundStatus.APPLIED, message.outcome
    assert state(sent.subscriber_id, sent.delivery_id) == (
        SubscriberStatus.BOUNCED,
        1,
        0.0,
        "bounced",
    )
    event = db.session.scalars(select(ReturnEvent)).one()
    assert (event.kind, event.status_code, event.source) == (ReturnKind.HARD, "5.1.1", "lmtp")


def test_postfix_4_2_2_with_action_failed_is_soft_score_one_and_not_suppressed(
    app, no_dispatcher
) -> None:
    sent = make_sent_delivery("bea@example.net")
    raw = corpus("derived-postfix-4.2.2-failed.eml").replace(
        b"nyaan@example.org", b"bea@example.net"
    )
    message = receive(raw, [f"bounces+{sent.token}@example.org"])
    assert message.status == InboundStatus.APPLIED, message.outcome
    assert state(sent.subscriber_id, sent.delivery_id) == (
        SubscriberStatus.ACTIVE,
        0,
        1.0,
        "bounced",
    )


def test_an_arf_complaint_at_abuse_by_our_message_id_marks_them_complained(
    app, no_dispatcher
) -> None:
    sent = make_sent_delivery("cy@example.net")
    raw = (
        corpus("rfc5965-b2-abuse.eml")
        .replace(b"user@example.com", b"cy@example.net")
        .replace(b"8787KJKJ3K4J3K4J3K4J3.mail@example.net", f"{sent.token}@example.org".encode())
    )
    message = receive(raw, ["abuse@example.org"], source="imap")
    assert message.status == InboundStatus.APPLIED, message.outcome
    assert state(sent.subscriber_id, sent.delivery_id) == (
        SubscriberStatus.COMPLAINED,
        1,
        0.0,
        "complained",
    )


def test_a_dsn_naming_another_address_changes_nothing(app, no_dispatcher) -> None:
    sent = make_sent_delivery("dee@example.net")
    message = receive(corpus("sisimai-lhost-postfix-33.eml"), [f"bounces+{sent.token}@example.org"])
    assert message.status == InboundStatus.IGNORED
    assert "userunknown@libsisimai.org" in message.outcome
    assert state(sent.subscriber_id, sent.delivery_id) == (SubscriberStatus.ACTIVE, 0, 0.0, None)
    assert db.session.scalars(select(ReturnEvent)).all() == []


def test_a_forged_verp_token_changes_nothing(app, no_dispatcher) -> None:
    sent = make_sent_delivery("eve@example.net")
    raw = corpus("sisimai-lhost-postfix-33.eml").replace(
        b"userunknown@libsisimai.org", b"eve@example.net"
    )
    message = receive(raw, [f"bounces+{new_token()}@example.org"])
    assert message.status == InboundStatus.IGNORED
    assert "matches no message we sent" in message.outcome
    assert state(sent.subscriber_id, sent.delivery_id) == (SubscriberStatus.ACTIVE, 0, 0.0, None)
    assert db.session.scalars(select(ReturnEvent)).all() == []


def test_a_redacted_complaint_goes_by_the_verp_token_of_the_quoted_return_path(
    app, no_dispatcher
) -> None:
    sent = make_sent_delivery("fay@example.net")
    raw = corpus("sisimai-arf-01.eml").replace(
        b"Return-Path: <support@example.ed.jp>",
        f"Return-Path: <bounces+{sent.token}@example.org>".encode(),
    )
    message = receive(raw, ["abuse@example.org"], source="imap")
    assert message.status == InboundStatus.APPLIED, message.outcome
    assert state(sent.subscriber_id, sent.delivery_id) == (
        SubscriberStatus.COMPLAINED,
        1,
        0.0,
        "complained",
    )


def test_a_mailto_unsubscribe_through_the_return_path_leaves_the_campaign_lists(
    app, no_dispatcher
) -> None:
    sent = make_sent_delivery("gil@example.net")
    delivery = db.session.get(Delivery, sent.delivery_id)
    subscriber = db.session.get(Subscriber, sent.subscriber_id)
    assert delivery is not None and subscriber is not None
    campaign = db.session.get(Campaign, delivery.campaign_id)
    assert campaign is not None
    token = tokens().unsubscribe(subscriber.uid, campaign.uid)
    raw = mailto(f"Re: unsubscribe {token}")
    message = receive(raw, ["unsubscribe@example.org"])
    assert message.status == InboundStatus.APPLIED, message.outcome
    statuses = db.session.scalars(
        select(Subscription.status).where(Subscription.subscriber_id == sent.subscriber_id)
    ).all()
    assert statuses == [SubscriptionStatus.UNSUBSCRIBED]
    event = db.session.scalars(select(ReturnEvent)).one()
    assert (event.kind, event.source) == (ReturnKind.UNSUBSCRIBE, "lmtp")


def test_nul_and_raw_8_bit_bytes_in_a_dsn_are_stored_as_clean_text(app, no_dispatcher) -> None:
    sent = make_sent_delivery("hal@example.net")
    raw = (
        corpus("sisimai-lhost-postfix-33.eml")
        .replace(b"userunknown@libsisimai.org", b"hal@example.net")
        .replace(b"smtp; 550 5.1.1", b"smtp; 550 5.1.1 \x00\xff\xed\xa0\x80 Usu\xe1rio")
    )
    message = receive(raw, [f"bounces+{sent.token}@example.org"])
    assert message.status == InboundStatus.APPLIED, message.outcome
    event = db.session.scalars(select(ReturnEvent)).one()
    assert (event.kind, event.status_code) == (ReturnKind.HARD, "5.1.1")
    assert "\x00" not in event.diagnostic and "Usu" in event.diagnostic
    assert event.diagnostic.endswith("User Unknown")
