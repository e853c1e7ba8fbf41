"""Sending limits per SMTP server, shared by every worker on every machine.

Each limit is N messages per period (``rate=50`` is 50 per second, ``window=10000/3600``
10,000 an hour), enforced as a sliding window estimated from two fixed windows (this
window's count plus the previous one's, weighted by how much of it still overlaps). The
counters live in Redis when the broker is Redis, else in the database, so the embedded
setup needs no extra server. A slot is taken only when every limit of the server allows it.
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

_LUA = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local n = (#ARGV) / 2
local counters = {}
local wait = 0
for i = 1, n do
  local limit, period = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local window = math.floor(now / period)
  local elapsed = (now - window * period) / period
  local key = KEYS[1] .. ':' .. period .. ':'
  local current = tonumber(redis.call('GET', key .. window) or '0')
  local previous = tonumber(redis.call('GET', key .. (window - 1)) or '0')
  if previous * (1 - elapsed) + current + 1 > limit then
    local w = (1 - elapsed) * period
    if current + 1 <= limit and previous > 0 then
      w = math.max(0, (1 - (limit - current - 1) / previous - elapsed) * period)
    end
    wait = math.max(wait, w, 0.001)
  end
  counters[i] = {key .. window, period}
end
if wait > 0 then return tostring(wait) end
for i = 1, n do
  redis.call('INCR', counters[i][1])
  redis.call('EXPIRE', counters[i][1], math.ceil(counters[i][2] * 2) + 1)
end
return '0'
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


class DatabaseThrottle:
    """Counters in the ``throttle_counters`` table (the embedded default).

    The slot is taken first (the upsert locks the counter row until the commit), then
    checked; over the limit, the transaction is rolled back. So two workers never both
    take the last slot.
    """

    def try_take(self, server: SmtpSettings) -> float:
        now = time.time()
        table = ThrottleCounter.__table__
        wait = 0.0
        for limit, period in server.limits:
            name, slot = f"{server.name}:{period:g}", math.floor(now / period)
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
            wait = max(wait, _estimate_wait(limit, period, now, current - 1, previous))
            if current == 1:  # a new window began: forget the ones before the previous
                db.session.execute(
                    delete(ThrottleCounter).where(
                        ThrottleCounter.name == name, ThrottleCounter.slot < slot - 1
                    )
                )
        if wait > 0:
            db.session.rollback()
            return wait
        db.session.commit()
        return 0.0


class RedisThrottle:
    """Counters in Redis, checked and taken in one atomic script."""

    def __init__(self, url: str) -> None:
        import redis

        self._script = redis.Redis.from_url(url).register_script(_LUA)

    def try_take(self, server: SmtpSettings) -> float:
        args = [value for limit, period in server.limits for value in (limit, period)]
        return float(self._script(keys=[f"tocsin:throttle:{server.name}"], args=args))


def throttle_for(broker_url: str) -> Throttle:
    """Redis when the broker is Redis, else the database."""
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisThrottle(broker_url)
    return DatabaseThrottle()
