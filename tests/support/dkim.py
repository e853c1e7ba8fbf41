"""A signed newsletter message, the DNS records that publish its keys, and two verifiers:
dkimpy and Debian's opendkim."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from emails.mime import build_message, format_address
from tests.support import opendkim

DOMAIN = "example.org"
SELECTOR = "news2025"
SUBJECT = "Заклик до тижня дій: 24 лютого – 3 березня"


def rsa_record(key: rsa.RSAPrivateKey) -> bytes:
    """Return the DNS TXT record that publishes an RSA public key."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def ed_record(key: ed25519.Ed25519PrivateKey) -> bytes:
    """Return the DNS TXT record that publishes an Ed25519 public key (RFC 8463)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)


def message(**extra: str) -> bytes:
    """Return a real newsletter message as the sender assembles it."""
    headers = {
        "List-Id": "Партнери <partners.example.org>",
        "List-Unsubscribe": "<https://example.org/u/abc>, <mailto:unsub@example.org?subject=abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Content-Language": "uk",
        **extra,
    }
    return build_message(
        sender=format_address("Новини мережі", "news@example.org"),
        recipient=format_address("Олена Петренко", "olena@example.net"),
        subject=SUBJECT,
        text="Привіт, Олено!\n\nЗустрічаємося в суботу о 10:00.\n" * 40,
        html="<p>Привіт, <b>Олено</b>!</p><p>Зустрічаємося в суботу о 10:00.</p>" * 40,
        message_id="<20250224090000.abc@example.org>",
        date=datetime(2025, 2, 24, 9, 0, tzinfo=UTC),
        extra_headers={name: value for name, value in headers.items() if value},
    )


def tags(signed: bytes) -> dict[str, str]:
    """Return the tags of the first DKIM-Signature header, whitespace removed."""
    header = re.match(rb"DKIM-Signature:(.*?\r\n)(?![ \t])", signed, re.DOTALL)
    assert header is not None
    fields = (field.split("=", 1) for field in header.group(1).decode().split(";"))
    return {name.strip(): re.sub(r"\s+", "", value) for name, value in fields}


SIGNATURE = re.compile(rb"DKIM-Signature:.*?\r\n(?![ \t])", re.DOTALL)


def dnsfunc(records: dict[str, bytes]) -> Callable[..., bytes | None]:
    """A dkimpy DNS lookup answering only the given records."""
    answers = {f"{name}.".encode(): record for name, record in records.items()}

    def lookup(query: bytes, timeout: int = 5) -> bytes | None:
        return answers.get(query)

    return lookup


def split(signed: bytes) -> tuple[list[bytes], bytes]:
    """The DKIM-Signature header fields at the top of a message, and the rest."""
    found = []
    while match := SIGNATURE.match(signed):
        found.append(match.group(0))
        signed = signed[match.end() :]
    return found, signed


def each_alone(signed: bytes) -> list[bytes]:
    """One copy of the message per signature, holding only that signature."""
    signatures, rest = split(signed)
    return [signature + rest for signature in signatures]


def dkimpy_results(signed: bytes, records: dict[str, bytes]) -> list[bool]:
    """dkimpy's verdict on each signature of the message."""
    count = len(split(signed)[0])
    verifier = dkim.DKIM(signed)
    return [verifier.verify(idx=index, dnsfunc=dnsfunc(records)) for index in range(count)]


def opendkim_results(signed: bytes, records: dict[str, bytes]) -> list[bool]:
    """opendkim's verdict on each signature (alone, as it reports only one per message)."""
    return [verdict.passed for verdict in opendkim.verify(each_alone(signed), records)]
