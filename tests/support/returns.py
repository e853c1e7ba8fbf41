"""What came back, for the panel's tests: a campaign whose ledger says it was sent, and
returns recorded through the one place the return path records them
(``app.audience.bounces.record``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
from tests.support.factories import make_campaign, make_list, make_subscribers


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
