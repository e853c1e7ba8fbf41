"""Reading mail that came back into ``Finding``s (a first version: DSNs, ARF, mailto)."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Sequence
from email.message import Message

from app.inbound.findings import Finding, Said
from app.inbound.routes import Mailbox, route

TOKEN = re.compile(r"unsubscribe\s+(\S+)", re.I)


def _recipients_of(message: Message, recipients: Sequence[str]) -> list[str]:
    if recipients:
        return list(recipients)
    found: list[str] = []
    for header in ("Delivered-To", "X-Original-To", "Envelope-To", "To"):
        found += [str(v) for v in message.get_all(header, [])]
    return found


def _address(field: object) -> str:
    return str(field).rpartition(";")[2].strip().lower()


def read_mail(raw: bytes, recipients: Sequence[str], domain: str) -> list[Finding]:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    addressed = [r for a in _recipients_of(message, recipients) if (r := route(a, domain))]
    verp = next((r.verp for r in addressed if r.verp), "")
    if any(r.mailbox is Mailbox.UNSUBSCRIBE for r in addressed):
        found = TOKEN.search(str(message.get("Subject", "")))
        return [Finding(Said.UNSUBSCRIBE, token=found.group(1) if found else "", reader="mailto")]
    findings: list[Finding] = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            groups = payload if isinstance(payload, list) else []
            for group in groups[1:]:
                if not isinstance(group, Message):
                    continue
                action = str(group.get("Action", "")).strip().lower()
                if action != "failed":
                    continue
                findings.append(
                    Finding(
                        Said.FAILED,
                        address=str(group.get("Final-Recipient", ""))
                        .rpartition(";")[2]
                        .strip()
                        .lower(),
                        status=str(group.get("Status", "")).strip(),
                        action=action,
                        diagnostic=str(group.get("Diagnostic-Code", "")).strip(),
                        verp=verp,
                        reader="dsn",
                    )
                )
    return findings
