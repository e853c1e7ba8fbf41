"""RFC 5965 abuse reports (ARF, the feedback loops of Yahoo, AOL, Comcast, Fastmail…) and
Microsoft's JMRP form, which quotes the mail whole with the reader's address in a header.

A ``Feedback-Type`` of ``abuse``, ``fraud`` or ``other`` (and the drafts' ``opt-out``) is a
reader's complaint. ``not-spam`` takes one back, ``virus`` and ``auth-failure`` (RFC 6591)
are about the mail, not the reader's wishes: none of them is a complaint.
"""

from __future__ import annotations

from email.message import Message
from email.utils import getaddresses

from app.inbound import returned
from app.inbound.findings import Finding, Said

COMPLAINTS = {"abuse", "fraud", "other", "opt-out", "opt-out-list"}
REPORT_TYPE = "message/feedback-report"
JMRP_RECIPIENT = "X-HmXmrOriginalRecipient"


def report_parts(message: Message) -> list[Message]:
    """The feedback-report parts of a message (none: it is not ARF)."""
    return [p for p in returned.walk(message) if p.get_content_type() == REPORT_TYPE]


def read_arf(message: Message, parts: list[Message]) -> list[Finding]:
    """One complaint per reported recipient, or nothing when the report is not a complaint."""
    fields = next(iter(returned.fields_blocks(parts[0])), None) if parts else None
    if fields is None:
        return []
    kind = returned.header(fields, "Feedback-Type").lower()
    if kind not in COMPLAINTS:
        return []
    quoted = returned.returned_headers(message)
    if fields.get("Redacted-Address") is not None:
        # RFC 6590: the reporter masked the reader's address; a masked address would name
        # nobody of ours, so the complaint goes by the VERP token or Message-ID alone.
        return _complaints([""], quoted, kind, "arf")
    addresses = [returned.address_of(v) for v in returned.headers(fields, "Original-Rcpt-To")]
    if not any(addresses):
        addresses = _recipients_of(quoted)
    return _complaints(addresses or [""], quoted, kind, "arf")


def read_jmrp(message: Message) -> list[Finding]:
    """A JMRP complaint (a mail quoted whole, the reader named in X-HmXmrOriginalRecipient)."""
    for part in returned.walk(message):
        if part.get_content_type() != "message/rfc822":
            continue
        quoted = returned.returned_headers(part)
        if quoted is not None and quoted.get(JMRP_RECIPIENT) is not None:
            address = returned.address_of(returned.header(quoted, JMRP_RECIPIENT))
            return _complaints([address], quoted, "abuse", "jmrp")
    return []


def _recipients_of(quoted: Message | None) -> list[str]:
    if quoted is None:
        return []
    pairs = getaddresses(returned.headers(quoted, "To"))
    found = [returned.address_of(address) for _, address in pairs]
    return [a for a in found if a][:1]


def _complaints(
    addresses: list[str], quoted: Message | None, kind: str, reader: str
) -> list[Finding]:
    message_id = returned.message_id_of(quoted)
    return [
        Finding(
            Said.COMPLAINT,
            address=address,
            action=kind,
            message_id=message_id,
            reader=reader,
        )
        for address in dict.fromkeys(addresses)
    ]
