"""Reading the parts of a message that came back, whatever shape it is in: the report's
fields, the notice's text, and the headers of the mail it returns (our Message-ID, our
``bounces+TOKEN@`` Return-Path). Every function here takes a parsed ``Message`` that may be
malformed, mislabelled or in an unknown charset, and answers "" or nothing rather than
raising: mail that comes back is written by every kind of software, and by anyone."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import Compat32

from app.audience.bounces import STATUS_CODE
from app.inbound.routes import route

# The stdlib's parser takes time in the square of the nesting depth: a notice has a few
# parts, a crafted message thousands (seconds to minutes of a worker's time).
MAX_PARTS = 200
CONTENT_TYPE = re.compile(rb"^content-type:", re.I | re.M)
MAX_ADDRESS = 320  # RFC 5321: 64 for the local part, 255 for the domain
RETURNED_TYPES = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
PARAGRAPH = re.compile(r"\n(?:[ \t]*\n)+")
HEADER_LINE = re.compile(r"[A-Za-z][A-Za-z0-9-]*:[ \t]")
FIELD = re.compile(r"[A-Za-z][A-Za-z0-9-]*[ \t]*:")
QUOTED_FIELD = re.compile(r"^(?:message-id|return-path):", re.I | re.M)


class Lenient(Compat32):
    """compat32 (which never refuses malformed MIME), except that a header with raw 8-bit
    bytes reads as text, as every other header does, not as a ``Header`` object that code
    expecting a string (flufl.bounce's detectors among it) fails on."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        """The header's value, its undecodable bytes replaced."""
        if not isinstance(value, str):
            return str(super().header_fetch_parse(name, value))
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


LENIENT = Lenient()


def parse(raw: bytes) -> Message:
    """The message as the stdlib reads it; one with more MIME parts than any notice has is
    read as headers and one text body."""
    if len(CONTENT_TYPE.findall(raw)) > MAX_PARTS:
        return BytesHeaderParser(policy=LENIENT).parsebytes(raw)
    return email.message_from_bytes(raw, policy=LENIENT)


def header(message: Message, name: str) -> str:
    """A header's value decoded and unfolded, "" when absent or undecodable."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, TypeError):
        text = str(value)
    return " ".join(text.split())


def headers(message: Message, name: str) -> list[str]:
    """Every value of a header, unfolded."""
    return [" ".join(str(v).split()) for v in message.get_all(name, []) or []]


def payload_text(part: Message) -> str:
    """A leaf part's body as text: transfer-decoded, in its charset or else as Latin-1."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(m.as_string() if isinstance(m, Message) else "" for m in payload)
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return str(payload or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset)
    except (LookupError, UnicodeError):
        return data.decode("latin-1")


def fields_blocks(part: Message) -> list[Message]:
    """The header-like blocks of a report part (message/delivery-status: one for the
    message, then one per recipient; message/feedback-report: one), however it was parsed."""
    payload = part.get_payload()
    if isinstance(payload, list):
        texts = [_block_text(m) for m in payload if isinstance(m, Message)]
    else:  # encoded, or not parsed as blocks: read the text again, block by block
        texts = PARAGRAPH.split(payload_text(part).replace("\r\n", "\n"))
    return [header_block(text) for text in texts if text.strip()]


def _block_text(block: Message) -> str:
    """A parsed block's text again: its fields, then whatever the parser took for a body
    (the fields after a line it could not read as one)."""
    fields = "".join(f"{name}: {value}\n" for name, value in block.items())
    rest = block.get_payload()
    return fields + (rest if isinstance(rest, str) else "")


def header_block(text: str) -> Message:
    """A block of "Name: value" lines read as headers; a line that is neither a field nor
    indented continues the one before (some MTAs fold a multi-line reply unindented)."""
    lines = text.strip("\n").split("\n")
    refolded = [line if FIELD.match(line) else f" {line.lstrip()}" for line in lines]
    return HeaderParser(policy=LENIENT).parsestr("\n".join(refolded).lstrip() + "\n")


def returned_headers(message: Message) -> Message | None:
    """The headers of the mail that came back: a message/rfc822 or rfc822-headers part,
    else a copy quoted in the notice's text (qmail, Exim and old Postfix quote it inline)."""
    for part in walk(message):
        if part.get_content_type() not in RETURNED_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        text = payload_text(part).lstrip()
        if text:
            return HeaderParser(policy=LENIENT).parsestr(text)
    return _quoted_headers(notice_text(message))


def _quoted_headers(text: str) -> Message | None:
    """The first block of header lines in a text that names a Message-ID or a Return-Path."""
    for block in PARAGRAPH.split(text):
        if HEADER_LINE.match(block) and QUOTED_FIELD.search(block):
            return header_block(block)
    return None


def walk(message: Message) -> Iterator[Message]:
    """Every part, depth first, tolerating payloads that are not what their type says."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        yield part
        payload = part.get_payload()
        if isinstance(payload, list):
            kids = [p for p in payload if isinstance(p, Message)]
            if part.get_content_type() != "message/delivery-status":
                stack[:0] = kids


def notice_text(message: Message) -> str:
    """The human-readable text of a notice: its text parts, not those of the mail it returns."""
    texts: list[str] = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        payload = part.get_payload()
        if part.get_content_type() in RETURNED_TYPES:
            continue
        if isinstance(payload, list):
            stack[:0] = [p for p in payload if isinstance(p, Message)]
        elif part.get_content_maintype() == "text" or part is message:
            texts.append(payload_text(part))
    return "\n".join(texts).replace("\r\n", "\n")


def status_of(text: str) -> str:
    """The first RFC 3463 failure code (4.x.x or 5.x.x) in a text; success codes (2.x.x,
    which is also what a version number looks like) set aside, and ``STATUS_CODE`` never
    reads one out of a dotted quad."""
    for found in STATUS_CODE.finditer(text or ""):
        if found.group(1) in "45":
            return ".".join(found.groups())
    return ""


def message_id_of(returned: Message | None) -> str:
    """The Message-ID of the mail that came back, "<…>", or ""."""
    if returned is None:
        return ""
    value = header(returned, "Message-ID")
    found = MESSAGE_ID.search(value)
    if found:
        return found.group(0)
    bare = value.strip()
    return f"<{bare}>" if bare and " " not in bare and "@" in bare else ""


def verp_of(returned: Message | None, domain: str) -> str:
    """The VERP token of our ``bounces+TOKEN@`` Return-Path in the mail that came back."""
    if returned is None:
        return ""
    for value in headers(returned, "Return-Path"):
        found = route(value.strip().strip("<>"), domain)
        if found is not None and found.verp:
            return found.verp
    return ""


def address_of(field: str) -> str:
    """The address of a report field ("rfc822; <Ann@Example.org>" -> "ann@example.org")."""
    value = field.rpartition(";")[2] if ";" in field else field
    value = value.strip().strip("<>").strip()
    plausible = value.find("@") > 0 and " " not in value and len(value) <= MAX_ADDRESS
    return value.lower() if plausible else ""
