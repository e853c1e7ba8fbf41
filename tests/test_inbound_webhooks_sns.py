"""Amazon SES events through SNS: a message whose SNS signature verifies (with a signing
certificate fetched over verified TLS from an allowed host, from an allowed topic) is stored
and bounces or complains the subscriber; a subscription is confirmed once, and only when
signed; anything else is refused and leaves nothing behind. An HTTPS server on loopback
stands in for SNS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from app.extensions import db
from app.models import InboundMessage, ReturnEvent, SubscriberStatus
from tests.support.inbound import ADDRESS, configure, post, process_all, refused, status_of, stored
from tests.support.webhooks import TOPIC, SnsServer, SnsSigner, ses_bounce


@pytest.fixture(scope="module")
def sns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnsServer]:
    server = SnsServer(Path(tmp_path_factory.mktemp("sns")))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def hooks(app: Flask, sns_server: SnsServer, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """The SES webhook on, trusting the loopback server as SNS; a client with no login."""
    sns_server.visits.clear()
    settings = {
        "SES_SNS_TOPIC_ARNS": [TOPIC],
        "SES_SNS_CERT_HOSTS": r"^127\.0\.0\.1$",
        "SES_SNS_CA_FILE": str(sns_server.ca_file),
    }
    return configure(app, monkeypatch, settings)


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


def test_sns_subscription_is_confirmed_once_and_only_when_signed(hooks, sns_server):
    signer = SnsSigner(sns_server)
    subscribe = f"{sns_server.url}/?Action=ConfirmSubscription&Token=2336412f37"
    message = signer.message(
        "SubscriptionConfirmation", "confirm", SubscribeURL=subscribe, Token="2336412f37"
    )
    forged = {**message, "SubscribeURL": f"{sns_server.url}/?Action=Forged"}
    refused(post(hooks, "ses", forged), 403, "signature does not verify")
    assert sns_server.visits == []
    response = post(hooks, "ses", message)
    assert response.get_data(as_text=True) == "subscription confirmed\n"
    assert sns_server.visits == ["/?Action=ConfirmSubscription&Token=2336412f37"]
    assert stored() == 0


def test_sns_unsubscribe_confirmation_is_verified_and_stores_nothing(hooks, sns_server):
    message = SnsSigner(sns_server).message(
        "UnsubscribeConfirmation", "bye", SubscribeURL=f"{sns_server.url}/?again", Token="t"
    )
    response = post(hooks, "ses", message)
    assert response.get_data(as_text=True) == "unsubscription noted\n"
    assert (sns_server.visits, stored()) == ([], 0)


def test_sns_signing_certificate_is_fetched_once_and_must_be_valid_now(hooks, sns_server):
    signer = SnsSigner(sns_server)
    for address in (ADDRESS, "bob@example.org"):
        assert (
            post(hooks, "ses", signer.message("Notification", ses_bounce(address))).status_code
            == 200
        )
    assert sns_server.fetched.count(signer.cert_url.removeprefix(sns_server.url)) == 1
    db.session.execute(delete(InboundMessage))
    db.session.commit()
    expired = SnsSigner(sns_server, days=-1)
    refused(
        post(hooks, "ses", expired.message("Notification", ses_bounce(ADDRESS))),
        403,
        "not valid now",
    )


def test_sns_subscribe_url_on_a_foreign_host_is_not_visited(hooks, sns_server):
    message = SnsSigner(sns_server).message(
        "SubscriptionConfirmation", "confirm", SubscribeURL="https://sns.evil.example/", Token="t"
    )
    assert post(hooks, "ses", message).status_code == 502
    assert sns_server.visits == []


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
    page = signer.message("Notification", ses_bounce(ADDRESS), SigningCertURL=f"{sns_server.url}/x")
    refused(post(hooks, "ses", page), 403, "SigningCertURL")
    assert sns_server.visits == []
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


def test_allowed_topics_are_read_from_the_environment_as_a_list():
    from app.config import from_environment

    settings = from_environment({"TOCSIN_SES_SNS_TOPIC_ARNS": f"{TOPIC}, {TOPIC}-2"})
    assert settings["SES_SNS_TOPIC_ARNS"] == [TOPIC, f"{TOPIC}-2"]
