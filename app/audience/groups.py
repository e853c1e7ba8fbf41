"""Partner groups: create, edit, merge, delete, and what a group's page shows.

Deleting a group keeps its subscribers (with no group) and its reports (with no group).
A group named in the filters of a campaign that has not finished cannot be deleted: the
campaign would silently reach a different audience. Merging B into A moves B's
subscribers and reports to A, adds B's languages to A's, appends B's notes, fills A's
empty country, city and website from B's, points campaign filters naming B at A, and
deletes B, in one transaction; it is refused, like a delete, while a campaign that has not
finished names B but not A (it would reach A's members too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from app.audience import counts
from app.audience.fields import clean_country, clean_name
from app.errors import Conflict, InvalidInput, Malformed, NotFound, Required, Taken, TooLong
from app.extensions import db
from app.languages import normalize_tag
from app.models import Campaign, CampaignStatus, Group, Report, Subscriber

MAX_CITY = 120
MAX_WEBSITE = 500
MAX_NOTES = 20_000
FINISHED = (CampaignStatus.SENT, CampaignStatus.CANCELLED)


def all_groups() -> list[Group]:
    """Every group, by name."""
    return list(db.session.scalars(select(Group).order_by(Group.name)))


def groups_with_counts() -> list[tuple[Group, int]]:
    """Every group with its number of subscribers, by name (sizes from ``counts``)."""
    sizes = counts.group_sizes()
    return [(group, sizes.get(group.id, 0)) for group in all_groups()]


def get(group_id: int) -> Group:
    """Return a group or raise ``NotFound``."""
    group = db.session.get(Group, group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    return group


@dataclass(frozen=True)
class GroupFields:
    """A group's editable fields as typed in a form; ``checked`` validates them all."""

    name: str
    country: str = ""
    city: str = ""
    website: str = ""
    languages: str = ""  # tags separated by spaces or commas
    notes: str = ""

    def checked(self, group_id: int | None = None) -> dict[str, Any]:
        """Return column values, or raise ``InvalidInput`` naming the first bad field."""
        name = clean_name(self.name)
        if not name:
            raise Required("name", "a group")
        clash = db.session.scalar(
            select(Group.id).where(func.lower(Group.name) == name.lower(), Group.id != group_id)
        )
        if clash is not None:
            raise Taken("name", "group", name)
        city = clean_name(self.city)
        if len(city) > MAX_CITY:
            raise TooLong("city", "the city", MAX_CITY)
        if len(self.notes) > MAX_NOTES:
            raise TooLong("notes", "the notes", MAX_NOTES, plural=True)
        return {
            "name": name,
            "country": clean_country(self.country) if self.country.strip() else None,
            "city": city or None,
            "website": clean_website(self.website),
            "languages": clean_languages(self.languages),
            "notes": self.notes.strip(),
        }


def clean_website(url: str) -> str | None:
    """Return an http(s) URL with a host, or ``None`` for an empty field; raise if not."""
    url = url.strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        raise Malformed("website", url, "a web address such as https://example.org")
    if len(url) > MAX_WEBSITE:
        raise TooLong("website", "the website", MAX_WEBSITE)
    return url


def clean_languages(text: str) -> list[str]:
    """Return BCP 47 tags in canonical case, each once, in the order given."""
    tags: list[str] = []
    for raw in re.split(r"[\s,;]+", text.strip()):
        if raw and (tag := normalize_tag(raw)) not in tags:
            tags.append(tag)
    return tags


def create_group(fields: GroupFields) -> Group:
    """Create a group after checking every field."""
    group = Group(**fields.checked())
    db.session.add(group)
    db.session.commit()
    return group


def update_group(group_id: int, fields: GroupFields) -> Group:
    """Change a group's fields after checking them all."""
    group = get(group_id)
    for key, value in fields.checked(group_id).items():
        setattr(group, key, value)
    db.session.commit()
    return group


def _campaigns_naming(group_id: int) -> list[Campaign]:
    # Filters are JSON: few campaigns, so they are read rather than queried per dialect.
    return [
        c
        for c in db.session.scalars(select(Campaign))
        if group_id in (c.filters or {}).get("groups", [])
    ]


def delete_group(group_id: int) -> int:
    """Delete a group; return how many subscribers it had (they stay, with no group)."""
    group = get(group_id)
    open_ones = [c.name for c in _campaigns_naming(group_id) if c.status not in FINISHED]
    if open_ones:
        raise Conflict(
            f"{group.name} is in the filters of {', '.join(sorted(open_ones))}: change them first"
        )
    for campaign in _campaigns_naming(group_id):
        _replace_in_filters(campaign, group_id, None)
    members = db.session.execute(
        select(func.count()).select_from(Subscriber).where(Subscriber.group_id == group_id)
    ).scalar_one()
    # Explicit, not left to ON DELETE SET NULL: the same on every database.
    db.session.execute(
        update(Subscriber).where(Subscriber.group_id == group_id).values(group_id=None)
    )
    db.session.execute(update(Report).where(Report.group_id == group_id).values(group_id=None))
    db.session.delete(group)
    db.session.commit()
    counts.invalidate()
    return members


def merge_groups(keep_id: int, absorb_id: int) -> Group:
    """Merge the second group into the first (see the module's docstring); return the first."""
    if keep_id == absorb_id:
        raise InvalidInput("choose another group to merge into this one", "other")
    keep, absorb = get(keep_id), get(absorb_id)
    widened = [
        c.name
        for c in _campaigns_naming(absorb_id)
        if c.status not in FINISHED and keep_id not in (c.filters or {}).get("groups", [])
    ]
    if widened:
        raise Conflict(
            f"{', '.join(sorted(widened))} would reach {keep.name}'s members too, having "
            f"named only {absorb.name} in its filters: change them first"
        )
    db.session.execute(
        update(Subscriber).where(Subscriber.group_id == absorb_id).values(group_id=keep_id)
    )
    db.session.execute(update(Report).where(Report.group_id == absorb_id).values(group_id=keep_id))
    keep.languages = list(dict.fromkeys([*(keep.languages or []), *(absorb.languages or [])]))
    if absorb.notes:
        keep.notes = f"{keep.notes}\n\nFrom {absorb.name}:\n{absorb.notes}".strip()
    keep.country = keep.country or absorb.country
    keep.city = keep.city or absorb.city
    keep.website = keep.website or absorb.website
    for campaign in _campaigns_naming(absorb_id):
        _replace_in_filters(campaign, absorb_id, keep_id)
    db.session.delete(absorb)
    db.session.commit()
    counts.invalidate()
    return keep


def _replace_in_filters(campaign: Campaign, old: int, new: int | None) -> None:
    filters = dict(campaign.filters or {})
    ids = [new if g == old else g for g in filters.get("groups", [])]
    filters["groups"] = sorted({g for g in ids if g is not None})
    campaign.filters = filters


def reports_of(group_id: int) -> list[Report]:
    """What the group reported back, newest first."""
    return list(
        db.session.scalars(
            select(Report).where(Report.group_id == group_id).order_by(Report.id.desc())
        )
    )
