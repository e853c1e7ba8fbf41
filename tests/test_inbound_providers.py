"""Providers' event bodies read into findings: the provider's status code when it gives one,
else one that says what its verdict means; complaints; nothing for anything else, and
nothing (never an exception) for a body that cannot be read."""

from __future__ import annotations

import json

import pytest

from app.inbound.findings import Finding, Said
from app.inbound.providers import read_event


def ses(bounce_type: str, subtype: str, **recipient: str) -> bytes:
    event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": subtype,
            "bouncedRecipients": [{"emailAddress": "Ann@Example.org", **recipient}],
        },
        "mail": {
            "messageId": "ses-own-id",
            "headers": [{"name": "Message-ID", "value": "<abc@news.example.org>"}],
        },
    }
    return json.dumps({"Type": "Notification", "Message": json.dumps(event)}).encode()


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "recipient", "status"),
    [
        ("Permanent", "General", {"status": "5.1.1"}, "5.1.1"),
        ("Permanent", "NoEmail", {}, "5.1.1"),
        ("Permanent", "General", {}, "5.1.0"),
        ("Permanent", "Suppressed", {}, "5.1.0"),
        ("Permanent", "OnAccountSuppressionList", {}, "5.1.0"),
        ("Permanent", "General", {"diagnosticCode": "smtp; 550 5.7.1 refused"}, "5.7.1"),
        ("Transient", "MailboxFull", {}, "4.0.0"),
        ("Transient", "General", {"status": "4.2.2"}, "4.2.2"),
        ("Undetermined", "Undetermined", {}, "4.0.0"),
    ],
)
def test_ses_bounces_keep_the_given_code_else_say_what_the_verdict_means(
    bounce_type, subtype, recipient, status
):
    (finding,) = read_event("ses", ses(bounce_type, subtype, **recipient))
    assert (finding.said, finding.status, finding.address) == (
        Said.FAILED,
        status,
        "ann@example.org",
    )
    assert finding.message_id == "<abc@news.example.org>"  # ours, not SES's own id
    assert finding.permanent is (bounce_type == "Permanent")
    assert finding.reader == "ses"


def test_ses_complaints_but_not_a_not_spam_report():
    def complaint(feedback: str) -> bytes:
        event = {
            "eventType": "Complaint",
            "complaint": {
                "complaintFeedbackType": feedback,
                "complainedRecipients": [{"emailAddress": "ann@example.org"}],
            },
            "mail": {"commonHeaders": {"messageId": "abc@news.example.org"}},
        }
        return json.dumps({"Type": "Notification", "Message": json.dumps(event)}).encode()

    (finding,) = read_event("ses", complaint("abuse"))
    assert (finding.said, finding.message_id) == (Said.COMPLAINT, "<abc@news.example.org>")
    assert read_event("ses", complaint("not-spam")) == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"Type": "HardBounce", "Details": "no such user"}, (Said.FAILED, "5.1.1")),
        ({"Type": "HardBounce", "Details": "550 5.2.1 disabled"}, (Said.FAILED, "5.2.1")),
        ({"Type": "SoftBounce", "Details": "mailbox full"}, (Said.FAILED, "4.0.0")),
        ({"Type": "Transient", "Details": "451 4.4.1 try later"}, (Said.FAILED, "4.4.1")),
        ({"RecordType": "SpamComplaint", "Type": "SpamComplaint"}, (Said.COMPLAINT, "")),
    ],
)
def test_postmark_bounce_types(event, expected):
    body = json.dumps({"RecordType": "Bounce", "Email": "ANN@example.org", **event}).encode()
    (finding,) = read_event("postmark", body)
    assert ((finding.said, finding.status), finding.address) == (expected, "ann@example.org")


def test_postmark_other_records_are_not_bounces():
    for kind in ("AutoResponder", "Blocked", "DnsError", "Unsubscribe"):
        body = json.dumps({"RecordType": "Bounce", "Type": kind, "Email": "a@example.org"})
        assert read_event("postmark", body.encode()) == []
    delivery = {"RecordType": "Delivery", "Recipient": "a@example.org"}
    assert read_event("postmark", json.dumps(delivery).encode()) == []


def mailgun(event: dict) -> bytes:
    headers = {"message-id": "abc@news.example.org"}
    data = {"recipient": "ann@example.org", "message": {"headers": headers}, **event}
    return json.dumps({"signature": {}, "event-data": data}).encode()


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ({"severity": "permanent", "delivery-status": {"message": "550 5.1.1 unknown"}}, "5.1.1"),
        ({"severity": "permanent", "delivery-status": {"enhanced-code": "5.2.1"}}, "5.2.1"),
        ({"severity": "permanent", "reason": "suppress-bounce", "delivery-status": {}}, "5.1.0"),
        ({"severity": "permanent", "delivery-status": {"code": 550}}, "5.0.0"),
        ({"severity": "temporary", "delivery-status": {"message": "452 4.2.2 full"}}, "4.2.2"),
        ({"severity": "temporary", "delivery-status": {"message": "550 5.1.1 who"}}, "4.0.0"),
    ],
)
def test_mailgun_failures_by_severity_and_code(event, status):
    (finding,) = read_event("mailgun", mailgun({"event": "failed", **event}))
    assert (finding.said, finding.status) == (Said.FAILED, status)
    assert finding.message_id == "<abc@news.example.org>"


def test_mailgun_complaints_and_nothing_for_other_events():
    (finding,) = read_event("mailgun", mailgun({"event": "complained"}))
    assert finding.said is Said.COMPLAINT
    for event in ("delivered", "opened", "clicked", "unsubscribed", "accepted"):
        assert read_event("mailgun", mailgun({"event": event})) == []


def test_sendgrid_batches_bounces_blocks_and_spam_reports_and_ignores_drops():
    events = [
        {"event": "bounce", "type": "bounce", "status": "5.1.1", "email": "Ann@example.org",
         "smtp-id": "<abc@news.example.org>", "reason": "550 5.1.1 unknown"},
        {"event": "bounce", "type": "blocked", "email": "bob@example.org", "reason": "blocked"},
        {"event": "spamreport", "email": "cleo@example.org"},
        {"event": "dropped", "email": "dan@example.org", "reason": "Bounced Address"},
        {"event": "deferred", "email": "dan@example.org"},
        {"event": "delivered", "email": "dan@example.org"},
        {"event": "open", "email": "dan@example.org"},
    ]  # fmt: skip
    findings = read_event("sendgrid", json.dumps(events).encode())
    assert [(f.said, f.address, f.status) for f in findings] == [
        (Said.FAILED, "ann@example.org", "5.1.1"),
        (Said.FAILED, "bob@example.org", "4.0.0"),
        (Said.COMPLAINT, "cleo@example.org", ""),
    ]
    assert findings[0].message_id == "<abc@news.example.org>"


def test_generic_events():
    body = {
        "events": [
            {"type": "bounce", "email": "Ann@example.org", "status": "5.1.1",
             "diagnostic": "550 unknown", "message_id": "<abc@news.example.org>"},
            {"type": "complaint", "email": "bob@example.org"},
            {"type": "delivered", "email": "cleo@example.org"},
        ]
    }  # fmt: skip
    assert read_event("generic", json.dumps(body).encode()) == [
        Finding(
            Said.FAILED,
            address="ann@example.org",
            status="5.1.1",
            diagnostic="550 unknown",
            message_id="<abc@news.example.org>",
            reader="generic",
        ),
        Finding(Said.COMPLAINT, address="bob@example.org", reader="generic"),
    ]


@pytest.mark.parametrize("source", ["ses", "postmark", "mailgun", "sendgrid", "generic", "smtp"])
@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[]", b"{}", b"42", b'"text"', b"[1, 2]", b'{"events": 3}',
     b'{"Type": "Notification", "Message": "{not json"}', b'{"event-data": []}'],
)  # fmt: skip
def test_unreadable_bodies_give_no_finding_and_never_raise(source, body):
    assert read_event(source, body) == []


def test_an_odd_entry_in_a_batch_does_not_hide_the_others():
    body = [3, "x", {"event": "spamreport", "email": "ann@example.org"}]
    (finding,) = read_event("sendgrid", json.dumps(body).encode())
    assert finding.said is Said.COMPLAINT
    generic = {"events": [None, {"type": "complaint", "email": "ann@example.org"}]}
    assert len(read_event("generic", json.dumps(generic).encode())) == 1
