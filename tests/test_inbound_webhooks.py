"""Provider webhooks (Postmark, Mailgun, SendGrid, Tocsin's generic format): a body proven to
come from the provider is stored and, once processed, bounces or complains the subscriber;
anything unproven is refused with a short reason and a log line, and nothing is stored or
changed. Amazon SES through SNS has its own module."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import ReturnEvent, SubscriberStatus, WebhookToken
from tests.support.factories import make_list, make_subscriber
from tests.support.inbound import ADDRESS, configure, post, process_all, refused, status_of, stored
from tests.support.webhooks import (
    generic_headers,
    mailgun_body,
    sendgrid_headers,
    sendgrid_public_key,
)

MAILGUN_KEY = "mailgun-signing-key-for-tests"
GENERIC_SECRET = "generic-secret-for-tests"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def hooks(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """These four webhooks configured; a client with no login and no cookie."""
    return configure(
        app,
        monkeypatch,
        {
            "POSTMARK_WEBHOOK_USER": "postmark",
            "POSTMARK_WEBHOOK_PASSWORD": "pm-password-for-tests",
            "MAILGUN_WEBHOOK_KEY": MAILGUN_KEY,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid_public_key(SENDGRID_KEY),
            "GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
        },
    )


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


# What is refused, and leaves nothing behind.


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
    # Under the request limit, over the return path's own: refused by the intake, and the
    # one-time token it carried is not spent.
    monkeypatch.setitem(app.config, "INBOUND_MAX_BYTES", 300)
    body = mailgun_body(MAILGUN_KEY, mailgun_failed())
    refused(post(hooks, "mailgun", body), 413, "over the limit")
    assert db.session.scalar(select(func.count()).select_from(WebhookToken)) == 0


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


def test_postmark_stays_off_with_a_user_but_no_password(app, monkeypatch):
    client = configure(app, monkeypatch, {"POSTMARK_WEBHOOK_USER": "postmark"})
    event = {"RecordType": "Bounce", "Type": "HardBounce", "Email": ADDRESS}
    refused(post(client, "postmark", event, Authorization="Basic cG9zdG1hcms6"), 404, "not found")
