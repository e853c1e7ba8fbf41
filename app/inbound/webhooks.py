"""Provider webhooks: each request proves it comes from the provider before its body is
stored (``intake.accept``) for the worker; nothing unproven is stored.

Each provider's proof, as the provider documents it (docs/inbound-webhooks.md):

- ``ses``: an SNS message signature (``app.inbound.sns``), from an allowed topic.
- ``postmark``: Postmark signs nothing; the webhook URL carries HTTP Basic credentials,
  compared in constant time with ``POSTMARK_WEBHOOK_USER`` / ``POSTMARK_WEBHOOK_PASSWORD``.
- ``mailgun``: HMAC-SHA256 of ``timestamp + token`` with ``MAILGUN_WEBHOOK_KEY``. It does not
  cover the event, so each token is remembered: the same token with another body is a
  replay and is refused; the same body again is stored once.
- ``sendgrid``: an ECDSA (P-256, SHA-256) signature of ``timestamp + body`` by the key whose
  public half is ``SENDGRID_WEBHOOK_PUBLIC_KEY``.
- ``generic``: Tocsin's own: ``X-Tocsin-Signature: sha256=HEX``, HMAC-SHA256 of
  ``timestamp + "." + body`` with ``GENERIC_WEBHOOK_SECRET``.

Signed timestamps must be within five minutes of now, either way. A body signed over its
bytes and sent again is stored once by ``intake`` (its digest), and so changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import delete, select

from app.database import insert_or_ignore
from app.extensions import db
from app.inbound import intake, sns
from app.inbound.intake import TooLarge
from app.inbound.refusals import NoCredentials, Unreadable, Unverified, WebhookOff
from app.models import WebhookToken
from app.models.base import utcnow

log = logging.getLogger(__name__)

WINDOW = 300  # seconds a signed timestamp may be away from now, either way
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
GENERIC_SIGNATURE = "X-Tocsin-Signature"
GENERIC_TIMESTAMP = "X-Tocsin-Timestamp"


class Headers(Protocol):
    """A request's headers (looked up without regard to case, as werkzeug's are)."""

    def get(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class Verified:
    """A proven request: whether its body is to be stored (else ``answer`` says what was
    done instead), and a one-time token to spend."""

    store: bool = True
    token: str = ""
    answer: str = ""


def receive(provider: str, headers: Headers, body: bytes) -> str:
    """Verify a provider's request and store its body for the worker (one commit); return
    what was done, for the answer. Raise ``WebhookOff``, ``Unverified``, ``Unreadable``,
    ``TooLarge`` or ``NotConfirmed``; nothing is stored then."""
    config = current_app.config
    if provider not in VERIFIERS or not CONFIGURED[provider](config):
        raise WebhookOff(provider)
    try:
        verified = VERIFIERS[provider](headers, body, config)
        if not verified.store:
            return verified.answer
        if verified.token:
            _spend(provider, verified.token, body)
        accepted = intake.accept(body, source=provider)  # commits the token with the body
    except (Unverified, Unreadable, TooLarge) as exc:
        db.session.rollback()
        log.warning("%s webhook request refused: %s", provider, exc)
        raise
    if accepted.duplicate:
        return "already received"
    log.info("%s webhook event stored as inbound message #%s", provider, accepted.id)
    return "stored"


def _spend(provider: str, token: str, body: bytes) -> None:
    """Remember a one-time token (uncommitted); refuse it when it came before with another
    body. Tokens older than twice the window are forgotten: their timestamps are stale."""
    digest, now = hashlib.sha256(body).hexdigest(), utcnow()
    db.session.execute(
        delete(WebhookToken).where(WebhookToken.seen_at < now - timedelta(seconds=2 * WINDOW))
    )
    inserted = db.session.execute(
        insert_or_ignore(WebhookToken.__table__)
        .values(provider=provider, token=token[:128], digest=digest, seen_at=now)
        .returning(WebhookToken.__table__.c.token)
    ).scalar()
    if inserted is not None:
        return
    seen = db.session.scalar(
        select(WebhookToken.digest).where(
            WebhookToken.provider == provider, WebhookToken.token == token[:128]
        )
    )
    if seen != digest:
        raise Unverified("its token was used before, with another body (a replay)")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise Unreadable() from None


def _fresh(timestamp: str) -> None:
    try:
        age = time.time() - int(timestamp)
    except ValueError:
        raise Unverified("the timestamp is not a number") from None
    if abs(age) > WINDOW:
        raise Unverified("the timestamp is more than five minutes away from now")


def _hmac(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _ses(headers: Headers, body: bytes, config: Mapping[str, Any]) -> Verified:
    message = sns.check(body, config)
    if message["Type"] == "SubscriptionConfirmation":
        sns.confirm(message, config)
        return Verified(store=False, answer="subscription confirmed")
    if message["Type"] == "UnsubscribeConfirmation":
        log.info("SNS subscription to %s ended", message["TopicArn"])
        return Verified(store=False, answer="unsubscription noted")
    return Verified()


def _postmark(headers: Headers, body: bytes, config: Mapping[str, Any]) -> Verified:
    scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        raise NoCredentials("HTTP Basic credentials are required")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
    except binascii.Error:
        raise NoCredentials("the HTTP Basic credentials cannot be read") from None
    same_user = hmac.compare_digest(user, str(config["POSTMARK_WEBHOOK_USER"]).encode())
    same_password = hmac.compare_digest(password, str(config["POSTMARK_WEBHOOK_PASSWORD"]).encode())
    if not (same_user and same_password):
        raise NoCredentials("wrong HTTP Basic credentials")
    if not isinstance(_json(body), dict):
        raise Unreadable("the body is not a Postmark event")
    return Verified()


def _mailgun(headers: Headers, body: bytes, config: Mapping[str, Any]) -> Verified:
    data = _json(body)
    signed = data.get("signature") if isinstance(data, dict) else None
    fields = [signed.get(k) for k in ("timestamp", "token", "signature")] if signed else []
    if not fields or not all(isinstance(value, str | int) for value in fields):
        raise NoCredentials("no Mailgun signature in the body")
    timestamp, token, signature = (str(value) for value in fields)
    expected = _hmac(str(config["MAILGUN_WEBHOOK_KEY"]), f"{timestamp}{token}".encode())
    if not hmac.compare_digest(expected, signature.lower()):
        raise Unverified("the Mailgun signature does not match")
    _fresh(timestamp)
    return Verified(token=token)


def _sendgrid(headers: Headers, body: bytes, config: Mapping[str, Any]) -> Verified:
    signature, timestamp = headers.get(SENDGRID_SIGNATURE), headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise NoCredentials("the SendGrid signature headers are missing")
    key = sendgrid_key(str(config["SENDGRID_WEBHOOK_PUBLIC_KEY"]))
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error):
        raise Unverified("the SendGrid signature does not verify") from None
    _fresh(timestamp)
    if not isinstance(_json(body), list):
        raise Unreadable("the body is not a list of SendGrid events")
    return Verified()


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key, as its console shows it (base64 DER) or as PEM."""
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text.strip()))
    except (ValueError, binascii.Error):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        log.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not an EC public key")
        raise Unverified("the configured SendGrid key cannot be read")
    return key


def _generic(headers: Headers, body: bytes, config: Mapping[str, Any]) -> Verified:
    signature, timestamp = headers.get(GENERIC_SIGNATURE), headers.get(GENERIC_TIMESTAMP)
    if not signature or not timestamp:
        raise NoCredentials(f"the {GENERIC_SIGNATURE} and {GENERIC_TIMESTAMP} headers are required")
    expected = "sha256=" + _hmac(
        str(config["GENERIC_WEBHOOK_SECRET"]), f"{timestamp}.".encode() + body
    )
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise Unverified("the signature does not match")
    _fresh(timestamp)
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise Unreadable('the body is not {"events": [...]}')
    return Verified()


Verifier = Callable[[Headers, bytes, Mapping[str, Any]], Verified]
VERIFIERS: dict[str, Verifier] = {
    "ses": _ses,
    "postmark": _postmark,
    "mailgun": _mailgun,
    "sendgrid": _sendgrid,
    "generic": _generic,
}
CONFIGURED: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "ses": sns.configured,
    "postmark": lambda c: bool(
        c.get("POSTMARK_WEBHOOK_USER") and c.get("POSTMARK_WEBHOOK_PASSWORD")
    ),
    "mailgun": lambda c: bool(c.get("MAILGUN_WEBHOOK_KEY")),
    "sendgrid": lambda c: bool(c.get("SENDGRID_WEBHOOK_PUBLIC_KEY")),
    "generic": lambda c: bool(c.get("GENERIC_WEBHOOK_SECRET")),
}
