"""S"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.campaigns.drafts import get
from app.delivery import ledger
from app.extensions import db
from app.models import (
    OPEN_DELIVERY_STATES,
    CampaignStatus,
    DeliveryStatus,
)


def counts(campaign_id: int) -> dict[str, int]:
    """Return the number of ledger rows in each delivery status (zeros included)."""
    result = {status.value: 0 for status in DeliveryStatus}
    rows = db.session.execute(
        select(ledger.Delivery.status, func.count())
        .where(ledger.Delivery.campaign_id == campaign_id)
        .group_by(ledger.Delivery.status)
    )
    for status, number in rows:
        result[status.value] = number
    return result


def progress(campaign_id: int) -> dict[str, Any]:
    """Return status, counts, remaining, current rate (messages a second) and ETA (seconds)."""
    campaign = get(campaign_id)
    by_status = counts(campaign_id)
    remaining = sum(by_status[s.value] for s in OPEN_DELIVERY_STATES)
    rate = None
    if campaign.status == CampaignStatus.SENDING and len(campaign.progress_samples or []) == 2:
        (t0, sent0), (t1, sent1) = campaign.progress_samples
        rate = round((sent1 - sent0) / (t1 - t0), 1) if t1 > t0 else None
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status.value,
        "reason": campaign.status_reason,
        "total": sum(by_status.values()),
        "counts": by_status,
        "remaining": remaining,
        "rate_per_second": rate,
        "eta_seconds": round(remaining / rate) if rate else None,
        "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
    }
