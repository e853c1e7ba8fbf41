"""Counts the panel shows on every page view, without scanning the table each time.

List and group sizes and a filter's total are kept per process for ``TTL_SECONDS`` and
dropped at once by any write made through this process's services (``invalidate``). Another
web process may show a number up to ``TTL_SECONDS`` old. A filter's total is counted up to
``CAP`` rows only: past that the panel says "more than 10,000"; a bulk action's
confirmation counts exactly, once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select

from app.audience.filters import SubscriberFilter, matching
from app.extensions import db
from app.models import Subscriber, Subscription, SubscriptionStatus

TTL_SECONDS = 30.0
CAP = 10_000

T = TypeVar("T")
_cache: dict[Hashable, tuple[float, Any]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Total:
    """How many subscribers a filter matches; ``capped`` when there are more than ``n``."""

    n: int
    capped: bool

    def __str__(self) -> str:
        return f"more than {self.n:,}" if self.capped else f"{self.n:,}"


def _cached(key: Hashable, compute: Callable[[], T]) -> T:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    with _lock:
        _cache[key] = (now + TTL_SECONDS, value)
    return value


def invalidate() -> None:
    """Forget every cached count (call after any write that changes subscribers or lists)."""
    with _lock:
        _cache.clear()


def list_sizes() -> dict[int, int]:
    """Confirmed subscriptions per list id (lists with none are absent)."""

    def compute() -> dict[int, int]:
        rows = db.session.execute(
            select(Subscription.list_id, func.count())
            .where(Subscription.status == SubscriptionStatus.CONFIRMED)
            .group_by(Subscription.list_id)
        )
        return {list_id: n for list_id, n in rows}

    return _cached("list_sizes", compute)


def group_sizes() -> dict[int, int]:
    """Subscribers per group id (groups with none are absent)."""

    def compute() -> dict[int, int]:
        rows = db.session.execute(
            select(Subscriber.group_id, func.count())
            .where(Subscriber.group_id.is_not(None))
            .group_by(Subscriber.group_id)
        )
        return {group_id: n for group_id, n in rows if group_id is not None}

    return _cached("group_sizes", compute)


def total(f: SubscriberFilter) -> Total:
    """How many subscribers pass the filter, counted up to ``CAP``."""

    def compute() -> Total:
        capped = select(Subscriber.id).where(matching(f)).limit(CAP + 1).subquery()
        n = db.session.scalar(select(func.count()).select_from(capped)) or 0
        return Total(min(n, CAP), n > CAP)

    return _cached(("total", f), compute)


def exact(f: SubscriberFilter) -> int:
    """How many subscribers pass the filter, counted now (for a confirmation, not a page)."""
    return db.session.scalar(select(func.count()).select_from(Subscriber).where(matching(f))) or 0
