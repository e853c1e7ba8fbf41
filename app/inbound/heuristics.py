"""Bounces that are not RFC 3464 reports (qmail, old Exim and Postfix, Exchange, Yahoo's own
words…), read by flufl.bounce's detectors, Mailman's. Their verdict (temporary or
permanent) is kept only as ``permanent``: the status code found in the notice's text decides,
and without one a failure is soft, so a guess never removes anyone on its own. What flufl.bounce
calls temporary is a delay warning ("not delivered yet, still trying"): the mail may still
arrive, so it is not a failure at all and is read as nothing, like a DSN's ``Action: delayed``."""

from __future__ import annotations

import re
from email.message import Message

from flufl.bounce import all_failures

from app.inbound import returned
from app.inbound.findings import Finding, Said

DIAGNOSTIC_CHARS = 500
# Every notice says what failed before it quotes the mail; flufl.bounce tries some fifty
# patterns on each line, which on 10 MB of short lines takes minutes. It reads the start.
NOTICE_BYTES = 128 << 10


def read_heuristic(raw: bytes, message: Message) -> list[Finding]:
    """The failed recipients flufl.bounce detects, each with the status code the notice
    gives near its address (else anywhere in the notice), or ""."""
    notice = returned.parse(raw[:NOTICE_BYTES])
    if not str(notice.get("From", "")).strip():
        # flufl.bounce's Yale detector takes the first address of From: and raises without
        # one, which ends the scan before the detectors after it (Postfix, qmail) have run.
        del notice["From"]
        notice["From"] = "<>"
    _warnings, permanent = all_failures(notice)
    addresses = sorted({_text(a) for a in permanent} - {""})
    if not addresses:
        return []
    text = returned.notice_text(notice)
    message_id = returned.message_id_of(returned.returned_headers(message))
    said = _said_about(text, addresses)
    first = _first_status(text)
    return [_finding(address, said.get(address, ""), first, message_id) for address in addresses]


def _finding(address: str, said: str, first: tuple[str, str], message_id: str) -> Finding:
    """One failure: the status code of what was said about the address, else the notice's
    first code, with the words that go with it."""
    status = returned.status_of(said)
    if not status and first[0]:
        status, said = first
    return Finding(
        Said.FAILED,
        address=address,
        status=status,
        diagnostic=" ".join(said.split())[:DIAGNOSTIC_CHARS],
        message_id=message_id,
        permanent=True,  # flufl.bounce's verdict; the status code decides
        reader="flufl",
    )


def _text(address: bytes | str) -> str:
    text = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return returned.address_of(text)


def _said_about(text: str, addresses: list[str]) -> dict[str, str]:
    """What the notice says about each address: from where it first names it to where it
    names the next one, or the paragraph ends (qmail writes a paragraph per address, Exim
    an indented block)."""
    named = ((re.search(re.escape(a), text, re.I), a) for a in addresses)
    starts = sorted((text.rfind("\n", 0, m.start()) + 1, a) for m, a in named if m)
    said: dict[str, str] = {}
    for index, (start, address) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        paragraph_end = returned.PARAGRAPH.search(text, start)
        if paragraph_end is not None:
            end = min(end, paragraph_end.start())
        said[address] = text[start:end]
    return said


def _first_status(text: str) -> tuple[str, str]:
    """The notice's first status code, with the paragraph that gives it."""
    for paragraph in returned.PARAGRAPH.split(text):
        if status := returned.status_of(paragraph):
            return status, paragraph
    return "", ""
