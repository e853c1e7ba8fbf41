"""The campaigns list: which campaigns a page shows (by status, by a part of the name),
newest first, a keyset page at a time, with each one's delivery counts in one query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.database import lowered
from app.errors import Malformed, NotOneOf, TooLong
from app.extensions import db
from app.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from app.search_index import escape_like

STATUSES = tuple(s.value for s in CampaignStatus)
PAGE_SIZE = 50
MAX_QUERY = 200  # a campaign's name is at most 200 characters


@dataclass(frozen=True)
class CampaignFilter:
    """Which campaigns a page shows: ``status`` one of ``STATUSES`` (empty: any), ``query``
    a part of the name in any case, every character taken literally."""

    status: str = ""
    query: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CampaignFilter:
        """Read and check a filter from URL fields; raise ``InvalidInput`` at the field."""
        status = (args.get("status") or "").strip().lower()
        if status and status not in STATUSES:
            raise NotOneOf(
                "status",
                args.get("status"),
                STATUSES,
                message=f"{args.get('status')!r} is not a campaign status; "
                f"choose one of {', '.join(STATUSES)}",
            )
        query = " ".join((args.get("q") or "").split())
        if len(query) > MAX_QUERY:
            raise TooLong("q", "the search", MAX_QUERY)
        return cls(status=status, query=query)

    def to_args(self) -> dict[str, str]:
        """The filter as URL fields (empty ones left out)."""
        return {k: v for k, v in (("status", self.status), ("q", self.query)) if v}


@dataclass(frozen=True)
class Row:
    """One campaign on the page, with its delivery counts by status (zeros included)."""

    campaign: Campaign
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """A page of rows; ``before`` is the id the next page starts below (None: last page)."""

    rows: list[Row]
    before: int | None


def page_of(f: CampaignFilter, before: str | None = None, size: int = PAGE_SIZE) -> Page:
    """The campaigns passing ``f``, newest first, below id ``before`` (a page's cursor)."""
    cursor = _cursor(before)
    query = select(Campaign).options(selectinload(Campaign.variants))
    if f.status:
        query = query.where(Campaign.status == CampaignStatus(f.status))
    if f.query:
        # Lowered LIKE with the pattern escaped, as app.search_index does: ILIKE does not
        # exist on SQLite, and a C collation compares bytes, so both sides are lowered.
        pattern = f"%{escape_like(f.query.lower())}%"
        query = query.where(lowered(Campaign.name).like(pattern, escape="\\"))
    if cursor is not None:
        query = query.where(Campaign.id < cursor)
    found = list(db.session.scalars(query.order_by(Campaign.id.desc()).limit(size + 1)))
    shown = found[:size]
    counts = _counts([c.id for c in shown])
    rows = [Row(c, counts[c.id]) for c in shown]
    return Page(rows, shown[-1].id if len(found) > size else None)


def _cursor(before: str | None) -> int | None:
    if before in (None, ""):
        return None
    try:
        return int(before)
    except ValueError:
        raise Malformed("before", before, "a page position") from None


def _counts(ids: list[int]) -> dict[int, dict[str, int]]:
    """Delivery counts by status for each campaign in ``ids``, in one grouped query."""
    result = {i: {s.value: 0 for s in DeliveryStatus} for i in ids}
    if not ids:
        return result
    rows = db.session.execute(
        select(Delivery.campaign_id, Delivery.status, func.count())
        .where(Delivery.campaign_id.in_(ids))
        .group_by(Delivery.campaign_id, Delivery.status)
    )
    for campaign_id, status, number in rows:
        result[campaign_id][status.value] = number
    return result
