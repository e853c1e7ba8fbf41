"""Copies of campaigns: a new draft with another campaign's settings and variants, and none
of its life (no schedule, no deliveries, no progress)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.campaigns.drafts import get
from app.extensions import db
from app.models import Campaign, CampaignStatus, Variant

NAME_LIMIT = 200  # campaigns.name is String(200)
SUFFIX_ROOM = 12  # " (99999999)"
VARIANT_FIELDS = (
    "language",
    "subject",
    "preheader",
    "body",
    "body_format",
    "ready",
    "footer_reason",
    "unsubscribe_label",
    "preferences_label",
)


def duplicate(campaign_id: int) -> Campaign:
    """Create a draft "Copy of NAME" of a campaign with its settings and every variant."""
    original = get(campaign_id)
    copy = Campaign(
        name=copy_name(original.name),
        status=CampaignStatus.DRAFT,
        lists=list(original.lists),
        filters=dict(original.filters or {}),
        default_language=original.default_language,
        fallbacks=list(original.fallbacks or []),
        from_address=original.from_address,
        template_id=original.template_id,
        smtp_server=original.smtp_server,
        archive=original.archive,
        variants=[
            Variant(**{name: getattr(v, name) for name in VARIANT_FIELDS})
            for v in original.variants
        ],
    )
    db.session.add(copy)
    db.session.commit()
    return copy


def copy_name(name: str) -> str:
    """The first free name of "Copy of NAME", "Copy of NAME (2)", … (within the limit)."""
    base = f"Copy of {name}"
    # Every name that could collide shares this start, even with the base cut for a suffix.
    start = base[: NAME_LIMIT - SUFFIX_ROOM]
    taken = set(
        db.session.scalars(
            select(Campaign.name).where(func.substr(Campaign.name, 1, len(start)) == start)
        )
    )
    number = 1
    while True:
        suffix = "" if number == 1 else f" ({number})"
        candidate = base[: NAME_LIMIT - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1
