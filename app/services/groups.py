"""Partner groups."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Group


def all_groups() -> list[Group]:
    """Every group, by name."""
    return list(db.session.scalars(select(Group).order_by(Group.name)))
