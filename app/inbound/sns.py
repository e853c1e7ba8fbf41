"""Amazon SES events delivered by Amazon SNS: the message signature, its signing
certificate and the subscription handshake, as AWS documents them ("Verifying the
signatures of Amazon SNS messages").

What is checked, in this order: the body is an SNS message of a known ``Type``; its
``TopicArn`` is one of ``SES_SNS_TOPIC_ARNS``; ``SignatureVersion`` is 1 (SHA1withRSA) or 2
(SHA256withRSA); ``SigningCertURL`` is https, without credentials, on a host matching
``SES_SNS_CERT_HOSTS`` (by default the pattern of AWS's own SDKs), its path ending in
``.pem``; the certificate fetched from there (TLS verified against the system's CAs, or
``SES_SNS_CA_FILE`` instead) parses and is within its validity dates; and its RSA key
verifies ``Signature`` over the string to sign.

Not checked: the signing certificate's own chain of trust (its origin is vouched for by the
verified TLS connection to an allowed SNS host instead), and the message's age (SNS retries
for hours; a replayed body is stored once by ``intake``, and so changes nothing).
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import logging
import re
import ssl
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.inbound.refusals import NoCredentials, NotConfirmed, Unreadable, Unverified

log = logging.getLogger(__name__)

# The host pattern AWS's SDKs check SigningCertURL against.
CERT_HOSTS = r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$"
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
# The fields of the string to sign, in byte order; a Notification's Subject only if present.
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
TIMEOUT = 5.0
MAX_FETCH_BYTES = 64 << 10
_certificates: dict[str, x509.Certificate] = {}
_lock = threading.Lock()


def configured(config: Mapping[str, Any]) -> bool:
    """Whether the SES webhook is on: only once the allowed topics are named."""
    return bool(topics(config))


def topics(config: Mapping[str, Any]) -> list[str]:
    """The TopicArns whose messages are taken (``SES_SNS_TOPIC_ARNS``)."""
    value = config.get("SES_SNS_TOPIC_ARNS") or []
    return re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else list(value)


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string of an SNS message: each signed field's name and value, a line
    each, in byte order (a Notification's Subject only when it has one)."""
    lines = []
    for name in SIGNED[message["Type"]]:
        if name == "Subject" and "Subject" not in message:
            continue
        lines += [name, message[name]]
    return "".join(f"{line}\n" for line in lines).encode()


def check(body: bytes, config: Mapping[str, Any]) -> dict[str, Any]:
    """The SNS message in ``body`` once its signature verifies; raise ``Unverified`` (or
    ``Unreadable`` for a body that is not a JSON object)."""
    try:
        message = json.loads(body)
    except ValueError:
        raise Unreadable() from None
    if not isinstance(message, dict):
        raise Unreadable("the body is not an SNS message")
    kind = message.get("Type")
    if kind not in SIGNED:
        raise NoCredentials("not an SNS message of a known type")
    if message.get("TopicArn") not in topics(config):
        raise Unverified("its TopicArn is not one of SES_SNS_TOPIC_ARNS")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Unverified("unknown SignatureVersion")
    optional = {"Subject"} if kind == "Notification" else set()
    for name in (*SIGNED[kind], "Signature", "SigningCertURL"):
        if not isinstance(message.get(name), str) and name not in optional:
            raise Unverified(f"the field {name} is missing")
    certificate = signing_certificate(message["SigningCertURL"], config)
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Unverified("the signing certificate's key is not RSA")
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, binascii.Error):
        raise Unverified("the signature does not verify") from None
    return message


def allowed_url(url: str, config: Mapping[str, Any]) -> bool:
    """Whether ``url`` is https, carries no credentials and names an allowed SNS host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return False
    pattern = str(config.get("SES_SNS_CERT_HOSTS") or CERT_HOSTS)
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and re.fullmatch(pattern, parts.hostname or "") is not None
    )


def signing_certificate(url: str, config: Mapping[str, Any]) -> x509.Certificate:
    """The certificate at ``url`` (an allowed SNS host), fetched once and kept while valid."""
    # A certificate's URL ends in .pem, as AWS's SDKs require: no other page of the host.
    if not allowed_url(url, config) or not urlsplit(url).path.endswith(".pem"):
        raise Unverified("its SigningCertURL is not a certificate on an allowed SNS host")
    now = datetime.now(UTC)
    with _lock:
        certificate = _certificates.get(url)
    if certificate is None:
        try:
            certificate = x509.load_pem_x509_certificate(fetch(url, config))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            log.warning("SNS signing certificate %s could not be fetched: %s", url, exc)
            raise Unverified("the signing certificate could not be fetched") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Unverified("the signing certificate is not valid now")
    with _lock:
        if len(_certificates) >= 32:  # AWS signs with few; a flood of URLs must not grow it
            _certificates.clear()
        _certificates[url] = certificate
    return certificate


def fetch(url: str, config: Mapping[str, Any]) -> bytes:
    """GET an https URL: the TLS certificate verified, no redirect followed, a short
    timeout, at most ``MAX_FETCH_BYTES``; raise ``OSError`` unless the answer is 200."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=config.get("SES_SNS_CA_FILE") or None)
    connection = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 443, timeout=TIMEOUT, context=context
    )
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers={"User-Agent": "Tocsin"})
        response = connection.getresponse()
        data = response.read(MAX_FETCH_BYTES + 1)
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"HTTP status {response.status}")
    if len(data) > MAX_FETCH_BYTES:
        raise OSError("the answer is too large")
    return data


def confirm(message: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Confirm a verified subscription by visiting its SubscribeURL (an allowed SNS host);
    raise ``NotConfirmed`` when that fails, so that SNS sends it again."""
    topic = message["TopicArn"]
    if not allowed_url(message["SubscribeURL"], config):
        raise NotConfirmed(f"the SubscribeURL of {topic} is not on an allowed SNS host")
    try:
        fetch(message["SubscribeURL"], config)
    except (OSError, http.client.HTTPException) as exc:
        log.warning("SNS subscription to %s could not be confirmed: %s", topic, exc)
        raise NotConfirmed(f"the subscription to {topic} could not be confirmed") from None
    log.info("SNS subscription to %s confirmed", topic)
