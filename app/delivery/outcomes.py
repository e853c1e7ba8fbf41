"""The outcome policy: what becomes of a delivery row, given the server's reply, the
re-check before its final dot, or a message that could not be built. ``sending`` applies
it; ``recording`` writes it."""

from __future__ import annotations

from app.audience.bounces import judge, status_in
from app.delivery.ledger import Claimed
from app.delivery.recording import DeliveryOutcome
from app.delivery.smtp import ReplyKind, Result
from app.messages.composing import Outgoing
from app.models import CampaignStatus, DeliveryStatus, ReturnKind

# What each kind of reply makes of the row (5.1.x bounces and 5.7.x policy refusals are
# permanent failures with more to them: see ``of_reply``).
STATUS = {
    ReplyKind.SENT: DeliveryStatus.SENT,
    ReplyKind.PERMANENT: DeliveryStatus.FAILED_PERM,
    ReplyKind.BOUNCE: DeliveryStatus.FAILED_PERM,
    ReplyKind.POLICY: DeliveryStatus.FAILED_PERM,
    ReplyKind.UNKNOWN: DeliveryStatus.UNKNOWN,
    ReplyKind.RETRY: DeliveryStatus.FAILED_TEMP,
}

NO_LONGER_MAILABLE = "no longer subscribed at send time"


def of_reply(row: Claimed, message: Outgoing, result: Result) -> DeliveryOutcome:
    """The row's outcome from the server's reply: a hard bounce also suppresses the address
    and any other permanent failure adds to its soft-bounce score (the rules of a bounce
    that comes back later), a policy refusal pauses the campaign, a temporary failure is
    tried again later."""
    pause = None
    returned = None
    if result.outcome is ReplyKind.BOUNCE:
        returned = ReturnKind.HARD
    elif result.outcome is ReplyKind.PERMANENT:
        returned = judge(status_in(result.reply) or "5.0.0")
    if result.outcome is ReplyKind.POLICY:
        pause = f"paused: the SMTP server refused by policy: {result.reply}"
    return DeliveryOutcome(
        row,
        STATUS[result.outcome],
        result.reply,
        message.language,
        message.message_id,
        retry=result.outcome is ReplyKind.RETRY,
        returned=returned if returned in (ReturnKind.HARD, ReturnKind.SOFT) else None,
        pause_reason=pause,
    )


def not_mailable(row: Claimed) -> DeliveryOutcome:
    """The re-check found the subscriber no longer mailable: the row is skipped."""
    return DeliveryOutcome(row, DeliveryStatus.SKIPPED, NO_LONGER_MAILABLE)


def unbuilt(row: Claimed, problem: str) -> DeliveryOutcome:
    """No message could be made: a template error fails the row for good; a subscriber gone
    or a language with no ready variant skips it."""
    failed = problem.startswith("template")
    return DeliveryOutcome(
        row, DeliveryStatus.FAILED_PERM if failed else DeliveryStatus.SKIPPED, problem
    )


def released_to(campaign_status: CampaignStatus | None) -> DeliveryStatus:
    """Where the rest of a batch goes when its campaign stopped sending: skipped when it was
    cancelled, queued again (uncounted) when it was paused."""
    return (
        DeliveryStatus.SKIPPED
        if campaign_status == CampaignStatus.CANCELLED
        else DeliveryStatus.QUEUED
    )
