"""Mail that comes back, made in the tests: delivery rows as the send path leaves them,
DSNs as an MTA writes them, and returns recorded through the one place the return path
records them (``app.audience.bounces.record``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser

from sqlalchemy import insert, select, update

from app.audience import bounces
from app.extensions import db
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    ReturnKind,
    Subscriber,
)
from app.models.base import utcnow
from app.tokens import hasher
from tests.support.factories import make_campaign, make_list, make_subscribers

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


def arf(reported: str, original: bytes, to: str = f"abuse@{DOMAIN}") -> bytes:
    """An RFC 5965 complaint about ``original`` (the mail as received), as a mailbox
    provider's feedback loop sends one; ``reported`` is its Original-Rcpt-To."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "feedback@example.net"
    report["To"] = to
    report["Subject"] = "FW: complaint about a message from example.org"
    report.attach(MIMEText("This is an email abuse report for an email message received.\n"))
    feedback = MIMEBase("message", "feedback-report")
    feedback.set_payload(
        "Feedback-Type: abuse\nUser-Agent: ExampleFBL/1.0\nVersion: 1\n"
        f"Original-Rcpt-To: {reported}\nArrival-Date: Tue, 8 Dec 2026 03:00:00 +0000\n"
    )
    report.attach(feedback)
    report.attach(MIMEMessage(BytesParser(policy=policy.compat32).parsebytes(original)))
    return report.as_bytes()


@dataclass
class SentCampaign:
    campaign_id: int
    # subscriber id -> delivery id, by language
    deliveries: dict[str, dict[int, int]]

    def pick(self, language: str, n: int) -> tuple[int, int]:
        """The ``n``-th (subscriber id, delivery id) of a language."""
        return list(self.deliveries[language].items())[n]


def sent_campaign(per_language: dict[str, int]) -> SentCampaign:
    """A campaign marked sent, with one delivery in status ``sent`` per subscriber made for
    it (``per_language``: how many in each language)."""
    people = make_list()
    campaign = make_campaign(
        {language: f"Subject {language}" for language in per_language}, lists=[people]
    )
    deliveries: dict[str, dict[int, int]] = {}
    for language, count in per_language.items():
        emails = make_subscribers(count, lists=[people], prefix=f"r-{language}-", language=language)
        ids = db.session.scalars(select(Subscriber.id).where(Subscriber.email.in_(emails))).all()
        db.session.execute(
            insert(Delivery),
            [
                {
                    "campaign_id": campaign.id,
                    "subscriber_id": i,
                    "language": language,
                    "status": DeliveryStatus.SENT,
                    "created_at": utcnow(),
                }
                for i in ids
            ],
        )
        rows = db.session.execute(
            select(Delivery.subscriber_id, Delivery.id).where(
                Delivery.campaign_id == campaign.id, Delivery.language == language
            )
        )
        deliveries[language] = {s: d for s, d in rows}
    db.session.execute(
        update(Campaign).where(Campaign.id == campaign.id).values(status=CampaignStatus.SENT)
    )
    db.session.commit()
    return SentCampaign(campaign.id, deliveries)


def record(
    subscriber_id: int,
    kind: ReturnKind,
    *,
    source: str = "imap",
    campaign_id: int | None = None,
    delivery_id: int | None = None,
    status_code: str = "",
    diagnostic: str = "",
    now: datetime | None = None,
    mark_delivery: bool = True,
) -> bounces.Recorded:
    """Record a return as the return path does, and commit."""
    recorded = bounces.record(
        db.session.connection(),
        subscriber_id,
        kind,
        source=source,
        scoring=bounces.Scoring(),
        status_code=status_code,
        diagnostic=diagnostic,
        campaign_id=campaign_id,
        delivery_id=delivery_id,
        now=now,
        mark_delivery=mark_delivery,
    )
    db.session.commit()
    return recorded
