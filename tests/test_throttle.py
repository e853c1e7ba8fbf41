"""The sending limits count alike in the database and in Redis (one window arithmetic)."""

from __future__ import annotations

import os
import time

import pytest

from app.delivery.throttle import DatabaseThrottle, RedisThrottle, Throttle
from app.mailservers import SmtpSettings


def throttle_of(kind: str) -> Throttle:
    if kind == "database":
        return DatabaseThrottle()
    if not os.environ["TOCSIN_BROKER_URL"].startswith("redis"):
        pytest.skip("the Redis throttle runs in the PostgreSQL + Redis pass of .ci/run")
    return RedisThrottle(os.environ["TOCSIN_BROKER_URL"])


def server(name: str, *limits: tuple[int, float]) -> SmtpSettings:
    return SmtpSettings("smtp", "127.0.0.1", 25, name=name, limits=limits)


@pytest.mark.parametrize("kind", ["database", "redis"])
def test_a_slot_one_limit_refuses_is_not_spent_on_the_others(app, kind):
    throttle = throttle_of(kind)
    name = f"both-{kind}-{time.time_ns()}"
    assert throttle.try_take(server(name, (2, 60.0), (1, 120.0))) == 0.0
    assert throttle.try_take(server(name, (2, 60.0), (1, 120.0))) > 0  # 1 per 2 minutes
    # The per-minute window holds the one message sent, not the one refused.
    assert throttle.try_take(server(name, (2, 60.0))) == 0.0
    assert throttle.try_take(server(name, (2, 60.0))) > 0


@pytest.mark.parametrize("kind", ["database", "redis"])
def test_the_wait_is_how_long_until_the_window_has_room(app, kind):
    throttle = throttle_of(kind)
    limited = server(f"wait-{kind}-{time.time_ns()}", (3, 3600.0))
    granted = [throttle.try_take(limited) for _ in range(5)]
    into_the_hour = time.time() % 3600
    assert granted[:3] == [0.0] * 3
    # Nothing in the previous window: room comes when this one ends.
    for wait in granted[3:]:
        assert wait == pytest.approx(3600 - into_the_hour, abs=2.0)
