"""Providers' side of the webhooks, for tests: an HTTPS server on loopback standing in for
SNS (signing certificate, SubscribeURL), a signer of SNS messages with its own RSA key, and
the signatures of Mailgun, SendGrid and Tocsin's generic format."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

_signers = itertools.count(1)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:tocsin-bounces"


def self_signed(key: rsa.RSAPrivateKey, name: str, *, days: int = 30) -> x509.Certificate:
    """A certificate for ``name`` (a DNS name, or 127.0.0.1 as an IP address) signed by itself."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    alt = x509.IPAddress(IPv4Address(name)) if name[0].isdigit() else x509.DNSName(name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=abs(days) + 1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class SnsServer:
    """HTTPS on 127.0.0.1 with its own certificate (``ca_file`` trusts it): serves signing
    certificates at ``/<name>.pem`` (``fetched`` lists them) and records the GETs of every
    other path (``visits``)."""

    def __init__(self, folder: Path) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca_file = folder / "tls.pem"
        key_file = folder / "tls.key"
        self.ca_file.write_bytes(pem(self_signed(key, "127.0.0.1")))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.files: dict[str, bytes] = {}
        self.visits: list[str] = []
        self.fetched: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
                body = server.files.get(self.path)
                (server.visits if body is None else server.fetched).append(self.path)
                if body is None:
                    body = b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class SnsSigner:
    """Signs SNS messages as SNS does, with a key whose certificate the server serves."""

    def __init__(self, server: SnsServer, name: str = "", *, days: int = 30) -> None:
        # Each signer its own URL: a certificate is fetched once per URL, as from SNS.
        name = name or f"signing-{next(_signers)}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        server.files[f"/{name}.pem"] = pem(self_signed(self.key, "sns.amazonaws.com", days=days))
        self.cert_url = f"{server.url}/{name}.pem"

    def message(self, kind: str, message: str, *, version: str = "2", **fields: str) -> dict:
        """An SNS message of ``kind`` carrying ``message``, signed (SignatureVersion 2 or 1)."""
        body = {
            "Type": kind,
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": message,
            "Timestamp": "2026-12-08T03:00:00.000Z",
            "SignatureVersion": version,
            "SigningCertURL": self.cert_url,
            **fields,
        }
        body["Signature"] = self.sign(body, version)
        return body

    def sign(self, body: dict, version: str = "2") -> str:
        from app.inbound.sns import string_to_sign

        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(body), padding.PKCS1v15(), algorithm)
        return base64.b64encode(signature).decode()


def ses_bounce(address: str, *, status: str = "5.1.1", message_id: str = "") -> str:
    """The SES event of a permanent bounce, as SNS carries it in ``Message``."""
    recipient = {"emailAddress": address, "action": "failed"}
    if status:
        recipient["status"] = status
        recipient["diagnosticCode"] = f"smtp; 550 {status} user unknown"
    return json.dumps(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [recipient],
            },
            "mail": {"commonHeaders": {"messageId": message_id}} if message_id else {},
        }
    )


def mailgun_body(key: str, event: dict, *, token: str = "a" * 50, at: float | None = None) -> bytes:
    """A Mailgun webhook body with its signature block."""
    timestamp = str(int(time.time() if at is None else at))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event,
        }
    ).encode()


def sendgrid_headers(
    key: ec.EllipticCurvePrivateKey, body: bytes, *, at: float | None = None
) -> dict:
    """SendGrid's signature headers for ``body``."""
    timestamp = str(int(time.time() if at is None else at))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def sendgrid_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as SendGrid's console shows it: base64 of its DER form."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def generic_headers(secret: str, body: bytes, *, at: float | None = None) -> dict:
    """The headers of Tocsin's generic webhook format for ``body``."""
    timestamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {"X-Tocsin-Timestamp": timestamp, "X-Tocsin-Signature": "sha256=" + digest.hexdigest()}
