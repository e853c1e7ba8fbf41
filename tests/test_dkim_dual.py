"""RSA and Ed25519 signatures together (RFC 8463), checked by two verifiers: dkimpy and
Debian's opendkim (``opendkim-testmsg`` against a DNS stub); oversigned headers make any
added Reply-To or second Subject break every signature."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from app import config
from app.errors import ConfigError
from app.messages import system_emails
from app.messages.composing import Sender
from app.messages.system_emails import Kind
from emails.dkim import DkimKey, load_key, sign
from tests.support import opendkim
from tests.support.dkim import (
    DOMAIN,
    dkimpy_results,
    ed_record,
    message,
    opendkim_results,
    rsa_record,
    split,
    tags,
)

PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8
NO_PASSWORD = serialization.NoEncryption()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key for the module."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    """One Ed25519 key for the module."""
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def keys(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey) -> dict[str, DkimKey]:
    """The two keys as Tocsin loads them, each under its own selector."""
    return {
        "rsa": load_key(DOMAIN, "news-rsa", rsa_key.private_bytes(PEM, PKCS8, NO_PASSWORD)),
        "ed25519": load_key(DOMAIN, "news-ed", ed_key.private_bytes(PEM, PKCS8, NO_PASSWORD)),
    }


@pytest.fixture(scope="module")
def records(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey) -> dict[str, bytes]:
    """The DNS TXT records that publish both public keys."""
    return {
        f"news-rsa._domainkey.{DOMAIN}": rsa_record(rsa_key),
        f"news-ed._domainkey.{DOMAIN}": ed_record(ed_key),
    }


def test_both_signatures_verify_with_dkimpy_and_opendkim(keys, records):
    original = message()
    signed = sign(original, [keys["ed25519"], keys["rsa"]])
    signatures, rest = split(signed)
    assert rest == original
    assert [tags(signature)["a"] for signature in signatures] == ["rsa-sha256", "ed25519-sha256"]
    assert [tags(signature)["s"] for signature in signatures] == ["news-rsa", "news-ed"]
    assert dkimpy_results(signed, records) == [True, True]
    assert opendkim_results(signed, records) == [True, True]
    assert opendkim.verify([signed], records)[0].passed  # and both together


def test_opendkim_refuses_a_wrong_key(keys, records):
    """The opendkim check is real: a key that is not the published one fails."""
    other = ed25519.Ed25519PrivateKey.generate()
    wrong = {**records, f"news-ed._domainkey.{DOMAIN}": ed_record(other)}
    signed = sign(message(), keys["ed25519"])
    verdict = opendkim.verify([signed], wrong)[0]
    assert not verdict.passed
    assert "signature" in verdict.output.lower()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda m: m.replace(b"\r\nFrom:", b"\r\nReply-To: x@evil.example\r\nFrom:"),
            id="reply-to",
        ),
        pytest.param(
            lambda m: m.replace(b"\r\nFrom:", b"\r\nSubject: Donate here\r\nFrom:"), id="subject"
        ),
        pytest.param(
            lambda m: m.replace(b"\r\nFrom:", b"\r\nCc: all@example.net\r\nFrom:"), id="cc"
        ),
        pytest.param(
            lambda m: m.replace(
                b"\r\nMIME-Version:",
                b"\r\nList-Unsubscribe: <https://evil.example/>\r\nMIME-Version:",
            ),
            id="list-unsubscribe",
        ),
    ],
)
def test_a_header_added_after_signing_breaks_every_signature(keys, records, forge):
    signed = sign(message(), [keys["rsa"], keys["ed25519"]])
    forged = forge(signed)
    assert forged != signed
    assert dkimpy_results(forged, records) == [False, False]
    assert opendkim_results(forged, records) == [False, False]


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_one_key_alone_signs_once_and_verifies_with_both_verifiers(keys, records, kind):
    signed = sign(message(), keys[kind])
    signatures, _ = split(signed)
    assert len(signatures) == 1
    assert tags(signatures[0])["a"] == keys[kind].algorithm
    assert dkimpy_results(signed, records) == [True]
    assert opendkim_results(signed, records) == [True]
    forged = signed.replace(b"\r\nFrom:", b"\r\nReply-To: x@evil.example\r\nFrom:")
    assert dkimpy_results(forged, records) == [False]
    assert opendkim_results(forged, records) == [False]


def test_oversigned_headers_are_listed_once_more_than_they_occur(keys):
    names = tags(sign(message(), keys["ed25519"]))["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id"):
        assert names.count(name) == 2, name
    for name in ("list-unsubscribe", "list-unsubscribe-post"):
        assert names.count(name) == 2, name
    assert names.count("reply-to") == 1 and names.count("cc") == 1
    assert names.count("list-id") == 1 and names.count("content-type") == 1


def test_settings_take_a_list_of_keys_and_selectors(app, rsa_key, ed_key, records):
    """A system email signed through the real settings carries both signatures."""
    rsa_pem = rsa_key.private_bytes(PEM, PKCS8, NO_PASSWORD).decode()
    ed_pem = ed_key.private_bytes(PEM, PKCS8, NO_PASSWORD).decode()
    settings = {
        **app.config,
        "MAIL_FROM": f"News <news@{DOMAIN}>",
        "DKIM_KEY": f"{ed_pem}, {rsa_pem}",
        "DKIM_SELECTOR": "news-ed, news-rsa",
    }
    sender = Sender.of(settings["MAIL_FROM"], settings)
    assert sender.dkim is not None
    assert [key.selector for key in sender.dkim] == ["news-ed", "news-rsa"]
    config.check(settings)
    outgoing = system_emails.build(
        Kind.CONFIRM,
        "en",
        "olena@example.net",
        system_emails.sample_values(Kind.CONFIRM, "en"),
        settings,
    )
    assert dkimpy_results(outgoing.data, records) == [True, True]
    assert opendkim_results(outgoing.data, records) == [True, True]


@pytest.mark.parametrize(
    ("keys_value", "selectors", "expected"),
    [
        ("a.pem,b.pem", "news-rsa", "2 key(s) but 1 selector(s)"),
        ("a.pem", "news-rsa,news-ed", "1 key(s) but 2 selector(s)"),
        ("a.pem", "", "1 key(s) but 0 selector(s)"),
        ("a.pem,b.pem", "news,NEWS", "each key needs its own selector"),
    ],
)
def test_keys_and_selectors_that_do_not_pair_stop_the_start(keys_value, selectors, expected):
    values = config.defaults("/srv/tocsin")
    values.update(DKIM_KEY=keys_value, DKIM_SELECTOR=selectors)
    with pytest.raises(ConfigError, match=re.escape(expected)) as error:
        config.check(values)
    assert "TOCSIN_DKIM_KEY" in str(error.value)
