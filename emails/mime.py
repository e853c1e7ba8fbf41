"""Assemble a two-part (text + HTML) message as bytes, fast, with safe headers.

The stdlib ``email`` generator costs about a millisecond a message; a newsletter's shape is
fixed, so the bytes are assembled directly from encoded parts. Tests parse the result with
``email.policy.default`` to prove it is well-formed.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import re
import secrets
import struct
from datetime import datetime
from email.errors import HeaderParseError
from email.header import Header, decode_header, make_header
from email.utils import format_datetime, formataddr, parseaddr

_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})


def clean_header_value(value: str) -> str:
    """Remove what could end a header early: CR, LF and NUL never reach the wire."""
    return " ".join(value.translate(_UNSAFE).split())


def _needs_encoding(value: str) -> bool:
    """Whether text must travel as RFC 2047 encoded-words to reach a reader unchanged.

    Non-ASCII text must; so must text holding ``=?``, which a decoder would otherwise take
    for an encoded-word of its own (``=?UTF-8?Q?=0A?=`` typed as a name would come back as
    a line break). Encoded whole, a decoder gets back exactly the characters typed.
    """
    return not value.isascii() or "=?" in value


def _encoded_words(value: str, header_name: str | None = None) -> str:
    # ``header_name`` leaves room for itself on the first line (Subject: no line over 78).
    # Names in addresses are encoded without it: the stdlib's address parser shows a space
    # between adjacent encoded-words, so a name that fits one word stays in one.
    return Header(value, "utf-8", maxlinelen=76, header_name=header_name).encode(linesep="\r\n")


MAX_LINE = 78  # RFC 5322 2.1.1: SHOULD; 998 is the hard limit


def fold_header(name: str, value: str) -> str:
    """Return ``Name: value`` and CRLF, folded into lines of at most 78 characters where white
    space allows (RFC 5322 2.2.3: a CRLF before a space, removed again by unfolding), at a
    space after a comma when there is one (between the URIs of List-Unsubscribe). A run of
    text without spaces is never cut, so a line longer than that can only be one such run."""
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE and "\r\n" not in value:
        return line + "\r\n"
    folded = []
    for number, physical in enumerate(line.split("\r\n")):
        earliest = len(name) + 2 if number == 0 else 1  # never right after "Name:"
        while len(physical) > MAX_LINE and (cut := _fold_point(physical, earliest)):
            folded.append(physical[:cut])
            physical, earliest = physical[cut:], 1
        folded.append(physical)
    return "\r\n".join(folded) + "\r\n"


def _fold_point(line: str, earliest: int) -> int | None:
    """Where to fold a long line: the last space within 78 characters that follows a comma,
    else the last space within them, else the first space after; None when there is none."""
    comma = line.rfind(", ", earliest - 1, MAX_LINE + 1)
    if comma >= 0:
        cut = comma + 1
    else:
        cut = line.rfind(" ", earliest, MAX_LINE + 1)
        if cut < 0:
            cut = line.find(" ", earliest)
    if cut < earliest or not line[cut + 1 :].strip():
        return None  # no space, or only blanks would follow
    return cut


def encode_header_value(value: str) -> str:
    """Return an ASCII header value: as is when plain ASCII text, else RFC 2047 encoded-words
    (always when it holds ``=?``, so nothing typed is ever decoded as an encoded-word)."""
    value = clean_header_value(value)
    if not _needs_encoding(value):
        return value
    return _encoded_words(value, "Subject")  # the longest name it precedes (Subject, List-Id)


def format_address(name: str, address: str) -> str:
    """Return ``Name <address>`` with CR/LF/NUL removed and the name encoded when needed.

    A name is text, never header syntax: one that is not plain ASCII or that holds ``=?``
    is encoded whole, so a reader's client shows exactly what was typed.
    """
    name, address = clean_header_value(name), clean_header_value(address)
    if name and _needs_encoding(name):
        return f"{_encoded_words(name)} <{address}>"
    return formataddr((name, address))


# A name written only as encoded-words, unquoted: how senders were once stored and how an
# operator may write TOCSIN_FROM. A quoted name is always literal text.
_ENCODED_NAME = re.compile(r"\s*(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=\s*)+<")
_SPECIALS = re.compile(r'[()<>@,;:\\".\[\]]|=\?')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_characters(value: str) -> list[str]:
    """The control characters (CR, LF, NUL, TAB, ...) in ``value``, as ``\\xNN`` escapes."""
    return sorted({f"\\x{ord(char):02x}" for char in _CONTROL.findall(value)})


def split_address(value: str) -> tuple[str, str]:
    """Split ``Name <address>`` into its parts (the name may be empty).

    A name given only as RFC 2047 encoded-words (``=?utf-8?b?...?= <a@b.org>``) is decoded
    (into whatever it says: check it before use; ``format_address`` cleans it); a quoted one
    is taken as the literal text it is.
    """
    value = clean_header_value(value)
    name, address = parseaddr(value)
    if _ENCODED_NAME.match(value):
        with contextlib.suppress(HeaderParseError, LookupError, UnicodeError, ValueError):
            name = str(make_header(decode_header(value[: value.rindex("<")].strip())))
    return name, address


def sender_control_characters(value: str) -> list[str]:
    """The control characters in a sender as typed or in its name once decoded."""
    return control_characters(value) or control_characters(split_address(value)[0])


def display_address(name: str, address: str) -> str:
    """Return ``Name <address>`` as a person reads and types it: never encoded, the name
    quoted when it holds a special character or ``=?``, so ``split_address`` gives back
    exactly this name."""
    name, address = clean_header_value(name), clean_header_value(address)
    if not name:
        return address
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


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
    head = "".join(fold_header(name, value) for name, value in headers.items())
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
