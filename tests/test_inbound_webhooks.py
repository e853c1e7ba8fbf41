"""Provider webhooks: a body proven to come from the provider is stored and, once the worker's
processing ran, bounces or complains the subscriber; anything unproven is refused with a
short reason and a log line, and nothing is stored or changed."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.inbound import intake, processing
from app.models import InboundMessage, ReturnEvent, Subscriber, SubscriberStatus
from tests.support.factories import make_list, make_subscriber
from tests.support.webhooks import (
    TOPIC,
    SnsServer,
    SnsSigner,
    generic_headers,
    mailgun_body,
    sendgrid_headers,
    sendgrid_public_key,
    ses_bounce,
)

ADDRESS = "ann@example.org"
MAILGUN_KEY = "mailgun-signing-key-for-tests"
GENERIC_SECRET = "generic-secret-for-tests"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def sns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnsServer]:
    server = SnsServer(Path(tmp_path_factory.mktemp("sns")))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def hooks(app: Flask, sns_server: SnsServer, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """Every webhook configured; a client with no login and no cookie."""
    for key, value in {
        "SES_SNS_TOPIC_ARNS": [TOPIC],
        "SES_SNS_CERT_HOSTS": r"^127\.0\.0\.1$",
        "SES_SNS_CA_FILE": str(sns_server.ca_file),
        "POSTMARK_WEBHOOK_USER": "postmark",
        "POSTMARK_WEBHOOK_PASSWORD": "pm-password-for-tests",
        "MAILGUN_WEBHOOK_KEY": MAILGUN_KEY,
        "SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid_public_key(SENDGRID_KEY),
        "GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    sns_server.visits.clear()
    make_subscriber(ADDRESS, lists=[make_list()])
    return app.test_client()


def stored() -> int:
    return db.session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def status_of(address: str = ADDRESS) -> SubscriberStatus:
    db.session.expire_all()
    return db.session.scalars(select(Subscriber.status).where(Subscriber.email == address)).one()


def process_all() -> None:
    """Process what is queued, as the worker does; a worker running alongside may take some,
    so wait (with a deadline) until nothing is left queued or claimed."""
    processing.process(intake.claim_queued())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        db.session.expire_all()
        busy = db.session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.status.in_(["queued", "claimed"]))
        )
        if not busy:
            return
        time.sleep(0.05)  # polling with a deadline: another process holds the lease
    raise AssertionError("inbound messages still waiting after 15 s")


def post(client: FlaskClient, provider: str, body: bytes | dict | list, **headers: str):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/webhooks/{provider}",
        data=data,
        headers={"Content-Type": "application/json", **headers},
    )


def refused(response, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert reason in response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers
    assert stored() == 0
    assert status_of() == SubscriberStatus.ACTIVE


def postmark_auth(user: str = "postmark", password: str = "pm-password-for-tests") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def mailgun_failed(address: str = ADDRESS) -> dict:
    return {
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "recipient": address,
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
        "message": {"headers": {"message-id": "not-ours@example.org"}},
    }


# Signed bodies are stored, and processing bounces or complains the subscriber.


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounce_signed_by_sns_is_stored_and_bounces_the_subscriber(hooks, sns_server, version):
    signer = SnsSigner(sns_server, name=f"v{version}")
    response = post(
        hooks, "ses", signer.message("Notification", ses_bounce(ADDRESS), version=version)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    assert stored() == 1
    process_all()
    assert status_of() == SubscriberStatus.BOUNCED
    event = db.session.scalars(select(ReturnEvent)).one()
    assert (event.kind, event.status_code, event.source) == ("hard", "5.1.1", "ses")


def test_ses_complaint_with_a_subject_complains(hooks, sns_server):
    complaint = json.dumps(
        {
            "notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": "Ann@Example.org"}]},
            "mail": {},
        }
    )
    message = SnsSigner(sns_server).message("Notification", complaint, Subject="Complaint")
    assert post(hooks, "ses", message).status_code == 200
    process_all()
    assert status_of() == SubscriberStatus.COMPLAINED


def test_postmark_with_its_basic_credentials_bounces(hooks):
    event = {"RecordType": "Bounce", "Type": "HardBounce", "Email": ADDRESS, "Details": "no"}
    assert post(hooks, "postmark", event, Authorization=postmark_auth()).status_code == 200
    process_all()
    assert status_of() == SubscriberStatus.BOUNCED


def test_mailgun_signed_failure_bounces(hooks):
    assert post(hooks, "mailgun", mailgun_body(MAILGUN_KEY, mailgun_failed())).status_code == 200
    process_all()
    assert status_of() == SubscriberStatus.BOUNCED


def test_sendgrid_signed_spam_report_complains(hooks):
    body = json.dumps([{"event": "spamreport", "email": ADDRESS}]).encode()
    assert post(hooks, "sendgrid", body, **sendgrid_headers(SENDGRID_KEY, body)).status_code == 200
    process_all()
    assert status_of() == SubscriberStatus.COMPLAINED


def test_generic_signed_bounce_bounces(hooks):
    body = json.dumps(
        {"events": [{"type": "bounce", "email": ADDRESS, "status": "5.1.1"}]}
    ).encode()
    assert post(hooks, "generic", body, **generic_headers(GENERIC_SECRET, body)).status_code == 200
    process_all()
    assert status_of() == SubscriberStatus.BOUNCED


# SNS subscriptions.


def test_sns_subscription_is_confirmed_once_and_only_when_signed(hooks, sns_server):
    signer = SnsSigner(sns_server)
    subscribe = f"{sns_server.url}/?Action=ConfirmSubscription&Token=2336412f37"
    message = signer.message(
        "SubscriptionConfirmation", "confirm", SubscribeURL=subscribe, Token="2336412f37"
    )
    forged = {**message, "SubscribeURL": f"{sns_server.url}/?Action=Forged"}
    refused(post(hooks, "ses", forged), 403, "signature does not verify")
    assert sns_server.visits == []
    assert post(hooks, "ses", message).status_code == 200
    assert sns_server.visits == ["/?Action=ConfirmSubscription&Token=2336412f37"]
    assert stored() == 0


def test_sns_subscribe_url_on_a_foreign_host_is_not_visited(hooks, sns_server):
    message = SnsSigner(sns_server).message(
        "SubscriptionConfirmation", "confirm", SubscribeURL="https://sns.evil.example/", Token="t"
    )
    assert post(hooks, "ses", message).status_code == 502
    assert sns_server.visits == []


# What is refused, and leaves nothing behind.


def test_ses_refuses_another_topic_a_foreign_certificate_host_and_a_wrong_key(hooks, sns_server):
    signer = SnsSigner(sns_server)
    other = signer.message("Notification", ses_bounce(ADDRESS), TopicArn=TOPIC + "-other")
    refused(post(hooks, "ses", other), 403, "TopicArn")
    foreign = signer.message(
        "Notification", ses_bounce(ADDRESS), SigningCertURL="https://sns.evil.example/cert.pem"
    )
    refused(post(hooks, "ses", foreign), 403, "SigningCertURL")
    plain = signer.message(
        "Notification", ses_bounce(ADDRESS), SigningCertURL=signer.cert_url.replace("https", "http")
    )
    refused(post(hooks, "ses", plain), 403, "SigningCertURL")
    impostor = SnsSigner(sns_server, name="impostor")
    wrong = {**signer.message("Notification", ses_bounce(ADDRESS)), "Signature": impostor.sign(
        signer.message("Notification", ses_bounce(ADDRESS)))}  # fmt: skip
    refused(post(hooks, "ses", wrong), 403, "signature does not verify")
    changed = {
        **signer.message("Notification", ses_bounce("bob@example.org")),
        "Message": ses_bounce(ADDRESS),
    }
    refused(post(hooks, "ses", changed), 403, "signature does not verify")


def test_ses_refuses_unsigned_and_unreadable_bodies(hooks):
    refused(post(hooks, "ses", {"notificationType": "Bounce"}), 401, "not an SNS message")
    refused(post(hooks, "ses", b"not json"), 400, "not JSON")


def test_postmark_refuses_missing_and_wrong_credentials(hooks):
    event = {"RecordType": "Bounce", "Type": "HardBounce", "Email": ADDRESS}
    response = post(hooks, "postmark", event)
    refused(response, 401, "Basic credentials are required")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    refused(
        post(hooks, "postmark", event, Authorization=postmark_auth(password="guess")), 401, "wrong"
    )
    refused(post(hooks, "postmark", b"{", Authorization=postmark_auth()), 400, "not JSON")


def test_mailgun_refuses_forged_stale_unsigned_and_unreadable(hooks):
    forged = json.loads(mailgun_body(MAILGUN_KEY, mailgun_failed()))
    forged["signature"]["signature"] = "0" * 64
    refused(post(hooks, "mailgun", forged), 403, "does not match")
    refused(
        post(hooks, "mailgun", mailgun_body("another-key", mailgun_failed())), 403, "does not match"
    )
    stale = mailgun_body(MAILGUN_KEY, mailgun_failed(), at=time.time() - 600)
    refused(post(hooks, "mailgun", stale), 403, "five minutes")
    future = mailgun_body(MAILGUN_KEY, mailgun_failed(), at=time.time() + 600)
    refused(post(hooks, "mailgun", future), 403, "five minutes")
    refused(post(hooks, "mailgun", {"event-data": mailgun_failed()}), 401, "no Mailgun signature")
    refused(post(hooks, "mailgun", b"\xff\xfe"), 400, "not JSON")


def test_mailgun_token_replayed_with_another_event_is_refused(hooks):
    first = mailgun_body(MAILGUN_KEY, {"event": "delivered", "recipient": ADDRESS})
    assert post(hooks, "mailgun", first).status_code == 200
    again = post(hooks, "mailgun", first)
    assert (again.status_code, again.get_data(as_text=True)) == (200, "already received\n")
    # The signature covers the timestamp and token only: the same block on another event.
    signature = json.loads(first)["signature"]
    replay = {"signature": signature, "event-data": mailgun_failed()}
    response = post(hooks, "mailgun", replay)
    assert response.status_code == 403 and "replay" in response.get_data(as_text=True)
    assert stored() == 1
    process_all()
    assert status_of() == SubscriberStatus.ACTIVE


def test_sendgrid_refuses_forged_wrong_key_missing_header_and_stale(hooks):
    body = json.dumps([{"event": "bounce", "email": ADDRESS, "status": "5.1.1"}]).encode()
    signed = sendgrid_headers(SENDGRID_KEY, body)
    refused(
        post(hooks, "sendgrid", body.replace(b"5.1.1", b"5.1.2"), **signed), 403, "does not verify"
    )
    other = sendgrid_headers(ec.generate_private_key(ec.SECP256R1()), body)
    refused(post(hooks, "sendgrid", body, **other), 403, "does not verify")
    refused(post(hooks, "sendgrid", body), 401, "headers are missing")
    stale = sendgrid_headers(SENDGRID_KEY, body, at=time.time() - 301)
    refused(post(hooks, "sendgrid", body, **stale), 403, "five minutes")
    text = b"not json"
    refused(post(hooks, "sendgrid", text, **sendgrid_headers(SENDGRID_KEY, text)), 400, "not JSON")


def test_generic_refuses_forged_missing_stale_and_a_replay_changes_nothing(hooks):
    body = json.dumps({"events": [{"type": "complaint", "email": ADDRESS}]}).encode()
    signed = generic_headers(GENERIC_SECRET, body)
    refused(post(hooks, "generic", body, **generic_headers("wrong", body)), 403, "does not match")
    refused(
        post(hooks, "generic", body, **{"X-Tocsin-Timestamp": signed["X-Tocsin-Timestamp"]}),
        401,
        "required",
    )
    old = generic_headers(GENERIC_SECRET, body, at=time.time() - 301)
    refused(post(hooks, "generic", body, **old), 403, "five minutes")
    assert post(hooks, "generic", body, **signed).status_code == 200
    process_all()
    events = db.session.scalar(select(func.count()).select_from(ReturnEvent))
    replayed = post(hooks, "generic", body, **signed)
    assert replayed.get_data(as_text=True) == "already received\n"
    process_all()
    assert stored() == 1
    assert db.session.scalar(select(func.count()).select_from(ReturnEvent)) == events


def test_oversized_bodies_are_refused_before_they_are_read(hooks, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    body = json.dumps({"events": [{"type": "bounce", "email": ADDRESS, "diagnostic": "x" * 5000}]})
    data = body.encode()
    refused(post(hooks, "generic", data, **generic_headers(GENERIC_SECRET, data)), 413, "too large")


def test_refusals_are_logged_without_secrets(hooks, caplog):
    body = mailgun_body("another-key", mailgun_failed())
    with caplog.at_level(logging.WARNING, logger="app.inbound.webhooks"):
        post(hooks, "mailgun", body)
    assert "mailgun webhook request refused: the Mailgun signature does not match" in caplog.text
    assert MAILGUN_KEY not in caplog.text
    assert json.loads(body)["signature"]["signature"] not in caplog.text


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid", "generic", "other"])
def test_webhooks_are_not_found_until_configured(app, provider):
    make_subscriber(ADDRESS, lists=[make_list()])
    response = post(app.test_client(), provider, {"events": []})
    refused(response, 404, "not found")
