"""Mail that comes back, made in the tests: a delivery row as the send path leaves it, and
DSNs as an MTA writes them."""

from __future__ import annotations

from app.extensions import db
from app.models import Campaign, Delivery, DeliveryStatus, Subscriber
from app.models.base import utcnow
from app.tokens import hasher

DOMAIN = "example.org"  # TOCSIN_FROM's domain in the tests: sender and bounce domain


def sent_delivery(campaign: Campaign, subscriber: Subscriber) -> tuple[Delivery, str]:
    """A delivery row as the send path leaves it after a 250; returns it and its VERP token."""
    message_id = hasher().message_id(campaign.uid, subscriber.uid, DOMAIN)
    row = Delivery(
        campaign_id=campaign.id,
        subscriber_id=subscriber.id,
        language="en",
        status=DeliveryStatus.SENT,
        attempts=1,
        smtp_reply="250 2.0.0 Ok: queued",
        message_id=message_id,
        updated_at=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row, message_id[1:].partition("@")[0]


def dsn(
    final_recipient: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    message_id: str = "",
    diagnostic: str = "smtp; 550 5.1.1 User unknown",
    to: str = f"bounces@{DOMAIN}",
    received: str = "",
) -> bytes:
    """An RFC 3464 report as Postfix writes one (with the returned message's headers)."""
    boundary = "=_returned_7a1c"
    headers = (
        "From: MAILER-DAEMON@mta.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        + (f"Received: {received}\r\n" if received else "")
        + "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
    )
    status_body = (
        "Reporting-MTA: dns; mta.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"Original-Recipient: rfc822;{final_recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: {diagnostic}\r\n"
    )
    returned = f"Message-ID: {message_id}\r\n" if message_id else ""
    returned += "From: news@example.org\r\nSubject: Week of action\r\n"
    return (
        f"{headers}\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{status_body}"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}"
        f"\r\n--{boundary}--\r\n"
    ).encode()
