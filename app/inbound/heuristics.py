"""Bounces that are not RFC 3464 reports (qmail, old Exim and Postfix, Exchange, Yahoo's own
words…), read by flufl.bounce's detectors, Mailman's. Their verdict (temporary or
permanent) is kept only as ``permanent``: the status code found in the notice's text decides,
and without one a failure is soft, so a guess never removes anyone on its own."""

from __future__ import annotations

import re
from email.message import Message

from flufl.bounce import all_failures

from app.inbound import returned
from app.inbound.findings import Finding, Said

PARAGRAPH = re.compile(r"\n[ \t]*\n")


def read_heuristic(message: Message) -> list[Finding]:
    """The failed recipients flufl.bounce detects, each with the status code the notice
    gives near its address (else anywhere in the notice), or ""."""
    temporary, permanent = all_failures(message)
    verdicts = {_text(a): False for a in temporary} | {_text(a): True for a in permanent}
    verdicts.pop("", None)
    if not verdicts:
        return []
    text = returned.notice_text(message)
    message_id = returned.message_id_of(returned.returned_headers(message))
    return [
        Finding(
            Said.FAILED,
            address=address,
            status=_status_near(text, address),
            message_id=message_id,
            permanent=verdict,
            reader="flufl",
        )
        for address, verdict in sorted(verdicts.items())
    ]


def _text(address: bytes | str) -> str:
    text = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return returned.address_of(text)


def _status_near(text: str, address: str) -> str:
    """The status code in the paragraph that names the address, else the notice's first."""
    for paragraph in PARAGRAPH.split(text):
        if address in paragraph.lower() and (near := returned.status_of(paragraph)):
            return near
    return returned.status_of(text)
