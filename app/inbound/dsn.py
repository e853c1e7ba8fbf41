"""RFC 3464 delivery status notifications: one finding per recipient whose ``Action:`` is
``failed``. A ``delayed``, ``delivered``, ``relayed`` or ``expanded`` group is a warning or
good news and is left out. The status code is what the scoring goes by, and it is kept as
written: Postfix says ``Action: failed`` with ``Status: 4.2.2`` when a full mailbox outlives
its queue lifetime, and that is a soft bounce."""

from __future__ import annotations

import re
from email.message import Message

from app.inbound import returned
from app.inbound.findings import Finding, Said

REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
FULL_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
VAGUE_STATUS = re.compile(r"[245]\.0\.0")

GROUP = re.compile(r"^final-recipient\s*:", re.I | re.M)
ACTION = re.compile(r"^action\s*:", re.I | re.M)
FIELD_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:", re.M)


def report_parts(message: Message) -> list[Message]:
    """The delivery-status parts of a message (none: it is not an RFC 3464 report)."""
    return [p for p in returned.walk(message) if p.get_content_type() in REPORT_TYPES]


def read_dsn(message: Message, parts: list[Message]) -> list[Finding]:
    """The failed recipients of a DSN, each with its status, diagnostic and Message-ID."""
    groups = [group for part in parts for group in returned.fields_blocks(part)]
    return _findings(message, groups)


def read_unlabelled(message: Message) -> list[Finding] | None:
    """A DSN whose MIME structure was lost (a relay dropped its Content-Type): the
    per-recipient groups found as blocks of its text, or ``None`` when there are none."""
    blocks = returned.PARAGRAPH.split(returned.notice_text(message))
    groups = [
        returned.header_block(block[found.start() :])
        for block in blocks
        if (found := FIELD_LINE.search(block)) and GROUP.search(block) and ACTION.search(block)
    ]
    return _findings(message, groups) if groups else None


def _findings(message: Message, groups: list[Message]) -> list[Finding]:
    message_id = returned.message_id_of(returned.returned_headers(message))
    found = (_failed(group, message_id) for group in groups)
    return [finding for finding in found if finding is not None]


def _failed(group: Message, message_id: str) -> Finding | None:
    action = returned.header(group, "Action").lower().split(" ")[0]
    original = returned.address_of(returned.header(group, "Original-Recipient"))
    # An X.400 or unix-path Final-Recipient names no address; the original one may.
    address = returned.address_of(returned.header(group, "Final-Recipient")) or original
    if action != "failed" or not address:
        return None
    diagnostic = returned.header(group, "Diagnostic-Code")
    return Finding(
        Said.FAILED,
        address=address,
        original_address=original if original != address else "",
        status=status_of(returned.header(group, "Status"), diagnostic),
        action=action,
        diagnostic=diagnostic.partition(";")[2].strip() if ";" in diagnostic else diagnostic,
        message_id=message_id,
        reader="dsn",
    )


def status_of(status: str, diagnostic: str) -> str:
    """The group's status code; from the diagnostic when the Status field is missing or
    unreadable, or says no more than "5.0.0" (then only a code of the same class: a
    diagnostic's 5.1.1 never turns a temporary 4.0.0 into a hard bounce)."""
    found = FULL_STATUS.search(status)
    code = found.group(0) if found else ""
    if code and not VAGUE_STATUS.fullmatch(code):
        return code
    said = returned.status_of(diagnostic)
    return said if said and (not code or said[0] == code[0]) else code
