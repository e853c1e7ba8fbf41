"""Sending limits per SMTP server, shared by every worker on every machine.

Each limit is N messages per period (``rate=50`` is 50 per second, ``window=10000/3600``
10,000 an hour), enforced as a sliding window estimated from two fixed windows (this
window's count plus the previous one's, weighted by how much of it still overlaps). The
counters live in Redis when the broker is Redis, else in the database, so the embedded
setup needs no extra server. A slot is taken only when every limit of the server allows it.

Both stores take the slot first and then ask ``_wait_after_taking`` whether it may be kept,
so the window arithmetic is written once, here in Python. (The ``limits`` library's Redis
strategies check each limit on its own, answer only yes or no rather than how long to
wait, and count whole-second periods; it has no SQL storage.)
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select

from app.database import insert_or_increment
from app.extensions import db
from app.mailservers import SmtpSettings
from app.models import ThrottleCounter

# Takes one slot in this window of every period given; returns the server's clock (seconds,
# microseconds) and, per period, the counter's key, its count with the slot, and the
# previous window's count. Whether the slot may be kept is ``_wait_after_taking``'s to say.
_TAKE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local reply = {time[1], time[2]}
for i = 1, #ARGV do
  local period = tonumber(ARGV[i])
  local window = math.floor(now / period)
  local key = KEYS[1] .. ':' .. period .. ':'
  reply[#reply + 1] = key .. window
  reply[#reply + 1] = redis.call('INCR', key .. window)
  redis.call('EXPIRE', key .. window, math.ceil(period * 2) + 1)
  reply[#reply + 1] = tonumber(redis.call('GET', key .. (window - 1)) or '0')
end
return reply
"""


class Throttle(Protocol):
    def try_take(self, server: SmtpSettings) -> float:
        """Take one slot and return 0, or return the seconds to wait before trying again."""


def wait_for_slot(
    throttle: Throttle, server: SmtpSettings, deadline: datetime | None = None
) -> bool:
    """Block until the server's limits allow one more message; False if not by ``deadline``."""
    if not server.limits:
        return True
    while (wait := throttle.try_take(server)) > 0:
        if deadline is not None and datetime.now(UTC) + timedelta(seconds=wait) >= deadline:
            return False
        time.sleep(min(wait, 1.0))
    return True


def _estimate_wait(limit: int, period: float, now: float, current: int, previous: int) -> float:
    """Seconds until one more message fits the sliding window (0 when it fits now)."""
    elapsed = (now % period) / period
    if previous * (1 - elapsed) + current + 1 <= limit:
        return 0.0
    if current + 1 <= limit and previous > 0:
        return max(0.001, (1 - (limit - current - 1) / previous - elapsed) * period)
    return max(0.001, (1 - elapsed) * period)


def _wait_after_taking(
    limits: tuple[tuple[int, float], ...], now: float, counts: list[tuple[int, int]]
) -> float:
    """Seconds to wait (0: keep the slot just taken) given, for each limit, this window's
    count including that slot and the previous window's count."""
    return max(
        (
            _estimate_wait(limit, period, now, current - 1, previous)
            for (limit, period), (current, previous) in zip(limits, counts, strict=True)
        ),
        default=0.0,
    )


class DatabaseThrottle:
    """Counters in the ``throttle_counters`` table (the embedded default).

    The slot is taken first (the upsert locks the counter row until the commit), then
    checked; over the limit, the transaction is rolled back. So two workers never both
    take the last slot.
    """

    def try_take(self, server: SmtpSettings) -> float:
        now = time.time()
        counts = [self._take(server.name, period, now) for _limit, period in server.limits]
        wait = _wait_after_taking(server.limits, now, counts)
        if wait > 0:
            db.session.rollback()
            return wait
        db.session.commit()
        return 0.0

    @staticmethod
    def _take(server_name: str, period: float, now: float) -> tuple[int, int]:
        """Count one more in this window; return its count and the previous window's."""
        name, slot = f"{server_name}:{period:g}", math.floor(now / period)
        table = ThrottleCounter.__table__
        current = db.session.execute(
            insert_or_increment(table, {"name": name, "slot": slot, "count": 1}, "count")
        ).scalar_one()
        previous = (
            db.session.scalar(
                select(ThrottleCounter.count).where(
                    ThrottleCounter.name == name, ThrottleCounter.slot == slot - 1
                )
            )
            or 0
        )
        if current == 1:  # a new window began: forget the ones before the previous
            db.session.execute(
                delete(ThrottleCounter).where(
                    ThrottleCounter.name == name, ThrottleCounter.slot < slot - 1
                )
            )
        return current, previous


class RedisThrottle:
    """Counters in Redis, on the Redis server's clock: one script takes the slot in every
    window and reads the counts; a slot the limits refuse is given back at once (meanwhile
    another worker may count it, which only makes that one wait, never send too many)."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._take = self._redis.register_script(_TAKE)

    def try_take(self, server: SmtpSettings) -> float:
        periods = [period for _limit, period in server.limits]
        seconds, microseconds, *taken = self._take(
            keys=[f"tocsin:throttle:{server.name}"], args=periods
        )
        now = int(seconds) + int(microseconds) / 1_000_000
        keys, counts = taken[0::3], list(zip(taken[1::3], taken[2::3], strict=True))
        wait = _wait_after_taking(server.limits, now, counts)
        if wait > 0:
            with self._redis.pipeline(transaction=False) as undo:
                for key in keys:
                    undo.decr(key)
                undo.execute()
        return wait


def throttle_for(broker_url: str) -> Throttle:
    """Redis when the broker is Redis, else the database."""
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisThrottle(broker_url)
    return DatabaseThrottle()
