"""Assemble a two-part (text + HTML) message as bytes, fast, with safe headers.

The stdlib ``email`` generator costs about a millisecond a message; a newsletter's shape is
fixed, so the bytes are assembled directly from encoded parts. Tests parse the result with
``email.policy.default`` to prove it is well-formed.
"""

from __future__ import annotations

import base64
import functools
import secrets
import struct
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})


def clean_header_value(value: str) -> str:
    """Remove what could end a header early: CR, LF and NUL never reach the wire."""
    return " ".join(value.translate(_UNSAFE).split())


def encode_header_value(value: str) -> str:
    """Return an ASCII header value: as is when ASCII, else RFC 2047 encoded-words."""
    value = clean_header_value(value)
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def format_address(name: str, address: str) -> str:
    """Return ``Name <address>`` with the name encoded when needed and CR/LF removed."""
    return formataddr((clean_header_value(name), clean_header_value(address)), charset="utf-8")


def split_address(value: str) -> tuple[str, str]:
    """Split ``Name <address>`` into its parts (the name may be empty)."""
    return parseaddr(clean_header_value(value))


@functools.lru_cache(maxsize=256)
def _lines(count: int) -> struct.Struct:
    """A struct that cuts ``count`` 76-byte lines off a buffer in one C call."""
    return struct.Struct("76s" * count)


def fold_base64(encoded: bytes) -> bytes:
    """Return base64 text as CRLF-terminated lines of at most 76 characters (RFC 2045)."""
    full = len(encoded) // 76
    # One C call cuts every full line (a Python loop over ~500 slices costs 3-4 times more);
    # the struct is cached per line count, which varies little within a campaign.
    lines = _lines(full).unpack_from(encoded)
    if len(encoded) > full * 76:
        lines += (encoded[full * 76 :],)
    return b"\r\n".join(lines) + b"\r\n"


def _encode_part(content: str, subtype: str) -> bytes:
    # One C call encodes the whole part (base64.encodebytes loops in Python over 57-byte
    # chunks and costs several times more), then the lines are cut in one more.
    data = fold_base64(base64.b64encode(content.encode("utf-8")))
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + data


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    extra_headers: dict[str, str],
) -> bytes:
    """Return the RFC 5322 bytes of a multipart/alternative message for one recipient."""
    boundary = "=_tocsin_" + secrets.token_hex(12)
    headers = {
        "From": clean_header_value(sender),
        "To": clean_header_value(recipient),
        "Subject": encode_header_value(subject),
        "Date": format_datetime(date),
        "Message-ID": clean_header_value(message_id),
        **{name: encode_header_value(value) for name, value in extra_headers.items()},
        "MIME-Version": "1.0",
        "Content-Type": f'multipart/alternative; boundary="{boundary}"',
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sep = f"--{boundary}\r\n".encode("ascii")
    return b"".join(
        (
            head.encode("ascii"),
            b"\r\n",
            sep,
            _encode_part(text, "plain"),
            sep,
            _encode_part(html, "html"),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )
