"""L"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from app.campaigns.drafts import EDITABLE, get
from app.campaigns.readiness import NotReadyChoice, check_sendable, not_ready_choice
from app.database import run_counted
from app.delivery import ledger
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
)
from app.models.base import utcnow
from app.tokens import HashKeyMismatch
from app.zones import zone_named


def start_sending(campaign_id: int, not_ready: NotReadyChoice | str | None = None) -> int:
    """Move a draft to ``sending`` and write its ledger in one statement; return the count.

    Pressing send twice is harmless: only the first call finds the campaign in draft.
    ``not_ready`` says what happens to recipients whose own variant is not ready.
    """
    campaign = get(campaign_id)
    _plan, held = check_sendable(campaign, not_ready)
    transition(campaign_id, EDITABLE, CampaignStatus.SENDING, started_at=utcnow(), status_reason="")
    count = ledger.insert_deliveries(campaign, held_languages=held)
    db.session.commit()
    return count


def schedule(
    campaign_id: int,
    local_time: datetime,
    timezone: str,
    not_ready: NotReadyChoice | str | None = None,
    now: datetime | None = None,
) -> datetime:
    """Schedule a draft to start at a wall-clock time in an IANA zone; return it in UTC.

    The time is read as ``start_time`` reads it.
    """
    when = start_time(local_time, timezone, now)
    campaign = get(campaign_id)
    choice = not_ready_choice(not_ready)
    check_sendable(campaign, choice)
    transition(
        campaign_id,
        EDITABLE,
        CampaignStatus.SCHEDULED,
        scheduled_at=when,
        schedule_timezone=zone_named(timezone).key,
        not_ready=choice.value if choice else None,
        status_reason="",
    )
    db.session.commit()
    return when


def start_time(local_time: datetime, timezone: str, now: datetime | None = None) -> datetime:
    """Return a future wall-clock time in an IANA zone in UTC, or refuse it.

    The local time is converted with the zone's rules for that date, so 09:00 in Kyiv stays
    09:00 across a daylight-saving change. A time that the clocks skip is refused; in the
    repeated hour of an autumn change, the first occurrence is meant.
    """
    zone = zone_named(timezone)
    if local_time.tzinfo is not None:
        local_time = local_time.astimezone(zone).replace(tzinfo=None)
    aware = local_time.replace(tzinfo=zone)
    when = aware.astimezone(UTC)
    if when.astimezone(zone).replace(tzinfo=None) != local_time:
        raise InvalidInput(
            f"{local_time:%Y-%m-%d %H:%M} does not exist in {timezone}: the clocks skip it",
            "scheduled_at",
        )
    if when <= (now or utcnow()):
        raise InvalidInput("the scheduled time has already passed", "scheduled_at")
    return when


def unschedule(campaign_id: int) -> None:
    """Take a scheduled campaign back to draft; it keeps everything else."""
    transition(campaign_id, (CampaignStatus.SCHEDULED,), CampaignStatus.DRAFT, scheduled_at=None)
    db.session.commit()


def start_due(now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come (beat calls this); return their ids.

    A campaign that can no longer start (say its only ready variant was unmarked) goes back
    to draft with the reason shown, instead of failing again every few seconds.
    """
    due = db.session.scalars(
        select(Campaign.id).where(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= (now or utcnow())
        )
    ).all()
    started = []
    for campaign_id in due:
        campaign = get(campaign_id)
        try:
            start_sending(campaign_id, campaign.not_ready)
        except Conflict:
            continue  # unscheduled or started meanwhile
        except HashKeyMismatch:
            db.session.rollback()
            break  # they stay scheduled until the hash key is set right (logged)
        except InvalidInput as exc:
            db.session.rollback()
            transition(
                campaign_id,
                (CampaignStatus.SCHEDULED,),
                CampaignStatus.DRAFT,
                status_reason=f"could not start on schedule: {exc}",
            )
            db.session.commit()
        else:
            started.append(campaign_id)
    return started


def transition(
    campaign_id: int, allowed: tuple[CampaignStatus, ...], to: CampaignStatus, **values: Any
) -> Campaign:
    """Move the campaign to ``to`` only from ``allowed``, in one conditional UPDATE."""
    campaign = get(campaign_id)
    moved = run_counted(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(allowed))
        .values(status=to, **values)
    )
    if moved != 1:
        db.session.rollback()
        raise Conflict(
            f"campaign {campaign_id} is {campaign.status.value}; it cannot become {to.value}"
        )
    return campaign


def pause(campaign_id: int, reason: str = "") -> None:
    """Stop handing out and sending rows; workers give back what they hold before the next."""
    transition(campaign_id, (CampaignStatus.SENDING,), CampaignStatus.PAUSED, status_reason=reason)
    db.session.commit()


def resume(campaign_id: int) -> None:
    """Carry on sending a paused campaign from where the ledger says it stopped."""
    transition(campaign_id, (CampaignStatus.PAUSED,), CampaignStatus.SENDING, status_reason="")
    db.session.commit()


def cancel(campaign_id: int) -> None:
    """Stop for good: rows not yet sent become ``skipped``; rows in flight finish first."""
    # Ledger rows before the campaign row, the order the dispatcher locks them in.
    db.session.execute(
        update(ledger.Delivery)
        .where(
            ledger.Delivery.campaign_id == campaign_id,
            ledger.Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.FAILED_TEMP)),
        )
        .values(status=DeliveryStatus.SKIPPED, smtp_reply="campaign cancelled")
    )
    transition(  # rolls the rows back too when the campaign cannot be cancelled
        campaign_id,
        (*EDITABLE, CampaignStatus.SENDING, CampaignStatus.PAUSED),
        CampaignStatus.CANCELLED,
        finished_at=utcnow(),
    )
    db.session.commit()


RESENDABLE = (DeliveryStatus.FAILED_PERM, DeliveryStatus.UNKNOWN)


def resend(campaign_id: int, statuses: tuple[DeliveryStatus, ...] = RESENDABLE) -> int:
    """Send a finished campaign again to rows that failed or whose fate is unknown."""
    if not set(statuses) <= set(RESENDABLE):
        raise InvalidInput("only failed and unknown deliveries can be sent again")
    # Ledger rows before the campaign row, the order the dispatcher locks them in.
    count = run_counted(
        update(ledger.Delivery)
        .where(ledger.Delivery.campaign_id == campaign_id, ledger.Delivery.status.in_(statuses))
        .values(
            status=DeliveryStatus.QUEUED,
            enqueued_at=None,
            next_attempt_at=None,
            first_attempt_at=None,
            smtp_reply="",
        )
    )
    transition(campaign_id, (CampaignStatus.SENT,), CampaignStatus.SENDING, finished_at=None)
    db.session.commit()
    return count
