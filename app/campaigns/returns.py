"""What came back from a campaign: bounces, complaints and mailto unsubscribes, counted from
its ``ReturnEvent`` rows and its deliveries, with their rates over the messages sent.

A bounce refused at the door while sending (``source="send"``, the row's status
``failed_perm``) was never sent, so it is counted on its own and kept out of the rates.
Unsubscribes are those that came back by mail (RFC 8058 mailto); one made through the
campaign's unsubscribe link ends a subscription without naming the campaign, so it is not
counted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, case, func, select

from app.extensions import db
from app.models import Delivery, DeliveryStatus, ReturnedAs, ReturnEvent, ReturnKind

# Above this share of complaints the page warns (Gmail asks senders to stay under 0.3 %).
COMPLAINT_WARNING = 0.001
SEND_SOURCE = "send"  # what the send path writes as the source of its own 5xx replies


@dataclass(frozen=True)
class Figure:
    """One kind of return: how many came back after sending, and how many at sending."""

    kind: ReturnKind
    after_sending: int = 0
    at_sending: int = 0


@dataclass(frozen=True)
class LanguageReturns:
    """A language's sent messages and how many of them later bounced or were complained of."""

    language: str
    sent: int
    bounced: int
    complained: int


@dataclass(frozen=True)
class CampaignReturns:
    """A campaign's returns by kind and by language, over its sent messages."""

    sent: int
    figures: dict[ReturnKind, Figure]
    languages: list[LanguageReturns] = field(default_factory=list)

    def rate(self, count: int) -> float | None:
        """``count`` as a share of the messages sent (None before anything was sent)."""
        return count / self.sent if self.sent else None

    @property
    def complaints(self) -> int:
        """Complaints about this campaign (all come after sending)."""
        return self.figures[ReturnKind.COMPLAINT].after_sending

    @property
    def complaints_too_many(self) -> bool:
        """Whether the complaint rate passes ``COMPLAINT_WARNING``."""
        share = self.rate(self.complaints)
        return share is not None and share > COMPLAINT_WARNING


def of_campaign(campaign_id: int) -> CampaignReturns:
    """Count what came back for a campaign: two GROUP BY queries on indexed columns."""
    figures = {kind: Figure(kind) for kind in ReturnKind}
    at_send = ReturnEvent.source == SEND_SOURCE
    rows = db.session.execute(
        select(ReturnEvent.kind, at_send, func.count())
        .where(ReturnEvent.campaign_id == campaign_id)
        .group_by(ReturnEvent.kind, at_send)
    )
    for kind, sending, number in rows:
        old = figures[kind]
        figures[kind] = (
            Figure(kind, old.after_sending, old.at_sending + number)
            if sending
            else Figure(kind, old.after_sending + number, old.at_sending)
        )
    languages = _by_language(campaign_id)
    return CampaignReturns(sum(row.sent for row in languages), figures, languages)


def _by_language(campaign_id: int) -> list[LanguageReturns]:
    """Sent, bounced and complained-of messages per language, from the deliveries alone
    (``Delivery.returned`` says what came back for a sent message)."""

    sent = Delivery.status == DeliveryStatus.SENT
    rows = db.session.execute(
        select(
            Delivery.language,
            _counted(sent),
            _counted(sent & (Delivery.returned == ReturnedAs.BOUNCED.value)),
            _counted(sent & (Delivery.returned == ReturnedAs.COMPLAINED.value)),
        )
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.language)
        .order_by(Delivery.language)
    )
    return [
        LanguageReturns(language or "", int(s), int(b), int(c))
        for language, s, b, c in rows
        if s or b or c
    ]


def _counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
