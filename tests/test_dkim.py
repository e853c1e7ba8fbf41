"""Signed messages verify with dkimpy against the public key; tampering or bad keys fail."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from emails.dkim import OVERSIGNED, SIGNED_HEADERS, DkimKey, load_key, sign
from emails.mime import encode_header_value
from tests.support.dkim import DOMAIN, SELECTOR, SUBJECT, ed_record, message, rsa_record, tags

PEM = serialization.Encoding.PEM
NO_PASSWORD = serialization.NoEncryption()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key for the module: generating it takes a noticeable moment."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    """One Ed25519 key for the module."""
    return ed25519.Ed25519PrivateKey.generate()


def dns(record: bytes) -> Callable[..., bytes | None]:
    """Return a dnsfunc that answers only for our selector's name."""
    name = f"{SELECTOR}._domainkey.{DOMAIN}.".encode()

    def lookup(query: bytes, timeout: int = 5) -> bytes | None:
        return record if query == name else None

    return lookup


@pytest.fixture(params=["rsa-pkcs1", "rsa-pkcs8", "ed25519-pkcs8", "ed25519-dkimpy"])
def signing(
    request: pytest.FixtureRequest,
    rsa_key: rsa.RSAPrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
    tmp_path: Path,
) -> tuple[DkimKey, bytes]:
    """A key loaded from a file in each supported format, and its TXT record."""
    if request.param.startswith("rsa"):
        fmt = serialization.PrivateFormat
        form = fmt.TraditionalOpenSSL if request.param == "rsa-pkcs1" else fmt.PKCS8
        data, record = rsa_key.private_bytes(PEM, form, NO_PASSWORD), rsa_record(rsa_key)
    elif request.param == "ed25519-pkcs8":
        data = ed_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_PASSWORD)
        record = ed_record(ed_key)
    else:
        seed = ed_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, NO_PASSWORD
        )
        data, record = base64.b64encode(seed) + b"\n", ed_record(ed_key)
    path = tmp_path / "dkim.key"
    path.write_bytes(data)
    return load_key(DOMAIN, SELECTOR, path), record


def test_signed_message_verifies_and_only_gains_the_header(signing: tuple[DkimKey, bytes]):
    key, record = signing
    original = message()
    signed = sign(original, key)
    assert dkim.verify(signed, dnsfunc=dns(record))
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(original)
    head = signed[: len(signed) - len(original)]
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    found = tags(signed)
    assert found["a"] == key.algorithm
    assert (found["c"], found["d"], found["s"]) == ("relaxed/relaxed", DOMAIN, SELECTOR)


def test_detected_algorithm(signing: tuple[DkimKey, bytes]):
    key, record = signing
    expected = "ed25519-sha256" if b"k=ed25519" in record else "rsa-sha256"
    assert key.algorithm == expected


def test_every_present_signed_header_is_in_h(signing: tuple[DkimKey, bytes]):
    key, _ = signing
    signed_names = tags(sign(message(), key))["h"].split(":")
    assert set(signed_names) == {name.lower() for name in (*SIGNED_HEADERS, *OVERSIGNED)}
    for name in SIGNED_HEADERS:  # present once; oversigned ones once more
        assert signed_names.count(name.lower()) == 1 + (name in OVERSIGNED), name


def test_absent_headers_are_left_out_of_h_unless_oversigned(signing: tuple[DkimKey, bytes]):
    key, record = signing
    signed = sign(message(**{"List-Id": "", "List-Unsubscribe": ""}), key)
    signed_names = tags(signed)["h"].split(":")
    assert "list-id" not in signed_names
    assert signed_names.count("list-unsubscribe") == 1  # none may be added
    assert signed_names.count("subject") == 2
    assert dkim.verify(signed, dnsfunc=dns(record))


def test_tampered_subject_fails(signing: tuple[DkimKey, bytes]):
    key, record = signing
    signed = sign(message(), key)
    original = encode_header_value(SUBJECT).encode()
    assert original in signed
    forged = signed.replace(original, encode_header_value("Збір скасовано").encode())
    assert not dkim.verify(forged, dnsfunc=dns(record))


def test_tampered_body_fails(signing: tuple[DkimKey, bytes]):
    key, record = signing
    signed = sign(message(), key)
    assert not dkim.verify(signed + b"P.S. Added on the way.\r\n", dnsfunc=dns(record))
    boundary_at = signed.rindex(b"--=_tocsin_")
    last = signed[boundary_at - 3 : boundary_at - 2]
    forged = (
        signed[: boundary_at - 3] + (b"B" if last == b"A" else b"A") + signed[boundary_at - 2 :]
    )
    assert not dkim.verify(forged, dnsfunc=dns(record))


def test_relaxed_canonicalisation_survives_refolding(signing: tuple[DkimKey, bytes]):
    key, record = signing
    signed = sign(message(), key)
    rewritten = signed.replace(b"\r\nMIME-Version: 1.0\r\n", b"\r\nmime-version:  1.0 \r\n")
    assert rewritten != signed
    assert dkim.verify(rewritten, dnsfunc=dns(record))


def test_wrong_public_key_fails(signing: tuple[DkimKey, bytes]):
    key, record = signing
    if key.algorithm == "rsa-sha256":
        other = rsa_record(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    else:
        other = ed_record(ed25519.Ed25519PrivateKey.generate())
    assert other != record
    assert not dkim.verify(sign(message(), key), dnsfunc=dns(other))


def test_pem_text_with_crlf_loads_and_signs(rsa_key: rsa.RSAPrivateKey):
    pem = rsa_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_PASSWORD)
    key = load_key(DOMAIN, SELECTOR, pem.decode().replace("\n", "\r\n"))
    assert dkim.verify(sign(message(), key), dnsfunc=dns(rsa_record(rsa_key)))


def test_domain_and_selector_are_normalised():
    seed = base64.b64encode(bytes(32)).decode()
    key = load_key("Новини.Example.ORG.", "News2025", seed)
    punycode = "новини".encode("idna").decode()
    assert (key.domain, key.selector) == (f"{punycode}.example.org", "news2025")
    with pytest.raises(ValueError, match="not a valid DKIM selector"):
        load_key(DOMAIN, "bad; selector", seed)
    with pytest.raises(ValueError, match="not a valid DKIM domain"):
        load_key("", SELECTOR, seed)


@pytest.fixture(scope="module")
def bad_keys(rsa_key: rsa.RSAPrivateKey) -> dict[str, bytes]:
    """Files that are not usable DKIM private keys, by what is wrong with them."""
    rsa_pem = rsa_key.private_bytes(
        PEM, serialization.PrivateFormat.TraditionalOpenSSL, NO_PASSWORD
    )
    return {
        "garbage": b"not a key at all\n",
        "public key": rsa_key.public_key().public_bytes(
            PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "EC key": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, NO_PASSWORD
        ),
        "truncated RSA": rsa_pem[:600] + b"\n-----END RSA PRIVATE KEY-----\n",
        "short seed": base64.b64encode(bytes(16)),
    }


@pytest.mark.parametrize("kind", ["garbage", "public key", "EC key", "truncated RSA", "short seed"])
def test_bad_key_gives_a_clear_error(kind: str, bad_keys: dict[str, bytes], tmp_path: Path):
    path = tmp_path / "dkim.key"
    path.write_bytes(bad_keys[kind])
    expected = f"the DKIM key in {path} is not an RSA or Ed25519 private key"
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_key(DOMAIN, SELECTOR, path)


def test_encrypted_and_missing_keys_give_clear_errors(tmp_path: Path):
    ed_key = ed25519.Ed25519PrivateKey.generate()
    encrypted = ed_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")
    )
    with pytest.raises(ValueError, match="is encrypted: store it without a passphrase"):
        load_key(DOMAIN, SELECTOR, encrypted)
    missing = tmp_path / "missing.key"
    with pytest.raises(
        ValueError, match=f"cannot read the DKIM key file {re.escape(str(missing))}"
    ):
        load_key(DOMAIN, SELECTOR, str(missing))
