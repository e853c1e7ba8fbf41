"""Provider webhook bodies (already verified and stored) into ``Finding``s.

Bounces become ``Said.FAILED`` with an RFC 3463 status: the one the provider reports when it
reports one, else one that says what the provider's own verdict means (a permanent "no such
mailbox" is 5.1.1, a transient failure 4.0.0), so that ``app.audience.bounces.judge`` decides
as it does for a DSN. Complaints become ``Said.COMPLAINT``. Whatever else a provider sends
(deliveries, opens, clicks, deferrals, SendGrid's ``dropped``, which only repeats SendGrid's
own suppression list) gives no finding; a body that cannot be read gives none either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from app.audience.bounces import status_in
from app.inbound.findings import Finding, Said

log = logging.getLogger(__name__)

# SES's permanent bounces: a subtype that names the address as undeliverable is hard.
SES_PERMANENT = {
    "NoEmail": "5.1.1",
    "General": "5.1.0",
    "Suppressed": "5.1.0",
    "OnAccountSuppressionList": "5.1.0",
}
TRANSIENT = "4.0.0"
GENERIC_TYPES = {"bounce": Said.FAILED, "complaint": Said.COMPLAINT}


def read_event(source: str, body: bytes) -> list[Finding]:
    """What a provider's stored body says; [] for anything unknown or unreadable."""
    reader = READERS.get(source)
    try:
        data = json.loads(body)
        return list(reader(data)) if reader is not None else []
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        log.warning("a %s webhook body could not be read: %s", source, exc)
        return []


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _address(value: object) -> str:
    return _text(value).lower()


def _message_id(value: object) -> str:
    """A Message-ID as our deliveries store it, "<…>" (providers often drop the brackets)."""
    text = _text(value)
    return text if not text or text.startswith("<") else f"<{text}>"


def _code(value: object, klass: str = "") -> str:
    """The status code in ``value`` when there is one (and of that class, if given)."""
    found = status_in(_text(value))
    return found if found.startswith(klass) else ""


def _ses(data: dict[str, Any]) -> Iterator[Finding]:
    event = json.loads(data["Message"]) if isinstance(data.get("Message"), str) else data
    kind = event.get("notificationType") or event.get("eventType")
    mail = event.get("mail") or {}
    message_id = (mail.get("commonHeaders") or {}).get("messageId") or next(
        (
            h.get("value")
            for h in mail.get("headers") or []
            if _text(h.get("name")).lower() == "message-id"
        ),
        "",
    )
    if kind == "Bounce":
        yield from _ses_bounce(event.get("bounce") or {}, _message_id(message_id))
    elif kind == "Complaint":
        complaint = event.get("complaint") or {}
        feedback = _text(complaint.get("complaintFeedbackType"))
        if feedback == "not-spam":
            return
        for recipient in complaint.get("complainedRecipients") or []:
            yield Finding(
                Said.COMPLAINT,
                address=_address(recipient.get("emailAddress")),
                diagnostic=f"complaint ({feedback or 'no feedback type'})",
                message_id=_message_id(message_id),
                reader="ses",
            )


def _ses_bounce(bounce: dict[str, Any], message_id: str) -> Iterator[Finding]:
    kind, subtype = _text(bounce.get("bounceType")), _text(bounce.get("bounceSubType"))
    # Transient and Undetermined bounces may pass; an unknown permanent subtype is scored.
    default = SES_PERMANENT.get(subtype, "5.0.0") if kind == "Permanent" else TRANSIENT
    for recipient in bounce.get("bouncedRecipients") or []:
        diagnostic = _text(recipient.get("diagnosticCode"))
        yield Finding(
            Said.FAILED,
            address=_address(recipient.get("emailAddress")),
            status=_code(recipient.get("status")) or _code(diagnostic) or default,
            action=_text(recipient.get("action")),
            diagnostic=diagnostic or f"SES {kind} bounce ({subtype})",
            message_id=message_id,
            permanent=kind == "Permanent",
            reader="ses",
        )


def _postmark(data: dict[str, Any]) -> Iterator[Finding]:
    kind, address = _text(data.get("Type")), _address(data.get("Email"))
    details = _text(data.get("Details")) or _text(data.get("Description"))
    if data.get("RecordType") == "SpamComplaint" or kind == "SpamComplaint":
        yield Finding(Said.COMPLAINT, address=address, diagnostic=details, reader="postmark")
    elif kind in ("HardBounce", "SoftBounce", "Transient"):
        hard = kind == "HardBounce"
        status = (_code(details, "5") or "5.1.1") if hard else (_code(details, "4") or TRANSIENT)
        yield Finding(
            Said.FAILED,
            address=address,
            status=status,
            diagnostic=details,
            permanent=hard,
            reader="postmark",
        )


def _mailgun(data: dict[str, Any]) -> Iterator[Finding]:
    event = data.get("event-data") or {}
    headers = (event.get("message") or {}).get("headers") or {}
    message_id, address = _message_id(headers.get("message-id")), _address(event.get("recipient"))
    if event.get("event") == "complained":
        yield Finding(Said.COMPLAINT, address=address, message_id=message_id, reader="mailgun")
    elif event.get("event") == "failed":
        status = event.get("delivery-status") or {}
        diagnostic = _text(status.get("message")) or _text(status.get("description"))
        found = _code(status.get("enhanced-code")) or _code(diagnostic)
        if event.get("severity") == "permanent":
            code = found or ("5.1.0" if event.get("reason") == "suppress-bounce" else "5.0.0")
        else:  # Mailgun tries again: whatever the code says, this one is not final
            code = found if found.startswith("4") else TRANSIENT
        yield Finding(
            Said.FAILED,
            address=address,
            status=code,
            diagnostic=diagnostic,
            message_id=message_id,
            permanent=event.get("severity") == "permanent",
            reader="mailgun",
        )


def _sendgrid(data: list[dict[str, Any]]) -> Iterator[Finding]:
    for event in data:
        if not isinstance(event, dict):  # one odd entry must not hide the batch's others
            continue
        address, message_id = _address(event.get("email")), _message_id(event.get("smtp-id"))
        if event.get("event") == "spamreport":
            yield Finding(Said.COMPLAINT, address=address, message_id=message_id, reader="sendgrid")
        elif event.get("event") == "bounce":
            reason = _text(event.get("reason"))
            blocked = event.get("type") == "blocked"
            default = TRANSIENT if blocked else "5.0.0"
            yield Finding(
                Said.FAILED,
                address=address,
                status=_code(event.get("status")) or _code(reason) or default,
                diagnostic=reason,
                message_id=message_id,
                reader="sendgrid",
            )


def _generic(data: dict[str, Any]) -> Iterator[Finding]:
    for event in data["events"]:
        if not isinstance(event, dict):
            continue
        said = GENERIC_TYPES.get(_text(event.get("type")))
        if said is None:
            continue
        yield Finding(
            said,
            address=_address(event.get("email")),
            status=_code(event.get("status")) if said is Said.FAILED else "",
            diagnostic=_text(event.get("diagnostic")),
            message_id=_message_id(event.get("message_id")),
            reader="generic",
        )


READERS: dict[str, Callable[[Any], Iterator[Finding]]] = {
    "ses": _ses,
    "postmark": _postmark,
    "mailgun": _mailgun,
    "sendgrid": _sendgrid,
    "generic": _generic,
}
