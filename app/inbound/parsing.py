"""Reading mail that came back into ``Finding``s: the entry point for every mail intake.

Which of our addresses it came to decides the first step (``unsubscribe@``: an RFC 8058
mailto unsubscribe), then its shape: an RFC 5965 feedback report (``arf``), an RFC 3464
delivery status notification (``dsn``), else flufl.bounce's detectors (``heuristics``).
Each finding carries the VERP token of the ``bounces+TOKEN@`` address the mail came to, or,
when the envelope lost it (a mailbox whose To: was rewritten), of the Return-Path the
returned message quotes. Nothing here raises on what a stranger can send: a reader that
cannot make sense of a message answers with what it could read, or nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from email.message import Message
from typing import Any, TypeVar

from app.inbound import arf, dsn, heuristics, returned
from app.inbound.findings import Finding, Said
from app.inbound.routes import Mailbox, Route, route

log = logging.getLogger(__name__)
T = TypeVar("T")

# Where a message fetched from a mailbox keeps the address it was delivered to.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
# No field of a finding is kept longer than a diagnostic (ReturnEvent keeps 1000).
MAX_TEXT = 1000
# "unsubscribe TOKEN", after any reply or forward prefixes a mail program added.
MAILTO = re.compile(r"^\s*(?:(?:re|aw|sv|fwd?|tr)\s*:\s*)*unsubscribe(?:\s+(\S+))?\s*$", re.I)


def read_mail(raw: bytes, recipients: Sequence[str], domain: str) -> list[Finding]:
    """What a mail that came back says: its findings, each with the VERP token it came to."""
    message = _guarded(lambda: returned.parse(raw), None)
    if message is None:
        return []
    named: list[str] = _guarded(lambda: _recipients_of(message, recipients), [])
    addressed = [r for a in named if (r := route(a, domain))]
    if any(r.mailbox is Mailbox.UNSUBSCRIBE for r in addressed):
        return [
            _clean(_guarded(lambda: _mailto(message), Finding(Said.UNSUBSCRIBE, reader="mailto")))
        ]
    findings = _reports(raw, message)
    verp = _guarded(lambda: _verp(message, addressed, domain), "")
    return [_clean(dataclasses.replace(f, verp=verp) if verp else f) for f in findings]


def _recipients_of(message: Message, recipients: Sequence[str]) -> list[str]:
    """The envelope recipients, else those a mailbox's copy names in its headers."""
    if recipients:
        return [str(r) for r in recipients]
    found: list[str] = []
    for name in RECIPIENT_HEADERS:
        for value in returned.headers(message, name):
            found += [a.strip() for a in re.split(r"[,\s]+", value) if "@" in a]
    return [a.strip("<>;") for a in found]


def _verp(message: Message, addressed: list[Route], domain: str) -> str:
    from_envelope = next((r.verp for r in addressed if r.verp), "")
    return from_envelope or returned.verp_of(returned.returned_headers(message), domain)


def _reports(raw: bytes, message: Message) -> list[Finding]:
    """A feedback report, else a DSN, else a JMRP complaint, else flufl.bounce's guess."""
    none: list[Message] = []
    feedback = _guarded(lambda: arf.report_parts(message), none)
    if feedback:
        return _guarded(lambda: arf.read_arf(message, feedback), [])
    statuses = _guarded(lambda: dsn.report_parts(message), none)
    if statuses:
        return _guarded(lambda: dsn.read_dsn(message, statuses), [])
    unlabelled = _guarded(lambda: dsn.read_unlabelled(message), None)
    if unlabelled is not None:
        return unlabelled
    return _guarded(lambda: arf.read_jmrp(message), []) or _guarded(
        lambda: heuristics.read_heuristic(raw, message), []
    )


def _mailto(message: Message) -> Finding:
    """An RFC 8058 mailto unsubscribe: the token from the Subject or the body's first line."""
    for line in (returned.header(message, "Subject"), _first_line(message)):
        found = MAILTO.match(line)
        if found and found.group(1):
            return Finding(Said.UNSUBSCRIBE, token=found.group(1), reader="mailto")
    return Finding(Said.UNSUBSCRIBE, token="", reader="mailto")


def _first_line(message: Message) -> str:
    for part in returned.walk(message):
        if part.get_content_type() == "text/plain":
            text = returned.payload_text(part)
            return next((line for line in text.splitlines() if line.strip()), "")
    return ""


def _clean(finding: Finding) -> Finding:
    """The finding with text a database stores: raw 8-bit bytes decoded (or replaced), no NUL
    (PostgreSQL refuses it in text), no field longer than a diagnostic is kept."""
    texts: dict[str, Any] = {
        field.name: _text(value)
        for field in dataclasses.fields(finding)
        if type(value := getattr(finding, field.name)) is str  # not ``said``, a StrEnum
    }
    return dataclasses.replace(finding, **texts)


def _text(value: str) -> str:
    try:  # the stdlib keeps undecodable bytes as lone surrogates
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\x00", "")[:MAX_TEXT]


def _guarded(read: Callable[[], T], empty: T) -> T:
    """Run a reader; a reader's bug on a stranger's mail gives its empty answer, logged."""
    try:
        return read()
    except Exception:  # hostile or broken mail must never stop the queue or crash a reader
        log.warning("a returned message could not be read", exc_info=True)
        return empty
