"""Logging in: the password check behind a throttle on failures.

Failures are counted per typed account and per client address, each against tiers of
fixed windows (``LOGIN_ACCOUNT_LIMIT``, ``LOGIN_CLIENT_LIMIT``: by default a minute, an
hour and a day). A breached tier refuses every attempt, the right password too, until its
window ends, so each tier locks for longer. The counters live in the rate limiter's
storage (Redis when the broker is Redis), so every web process shares them.

An attempt takes its place in every counter before the password is checked, so parallel
requests cannot all slip under a limit; a success, or an attempt refused as locked, gives
its places back. What is counted is only what the attacker typed: an unknown account is
counted and answered exactly as a known one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.strategies import FixedWindowRateLimiter

from app.accounts import users
from app.addresses import normalize_email
from app.errors import InvalidInput
from app.extensions import limiter
from app.models import User

security = logging.getLogger("tocsin.security")


@dataclass(frozen=True)
class Attempt:
    """The outcome of one login: the user on success; else how long the login stays locked
    (0: not locked, the address or password was wrong)."""

    user: User | None
    retry_after: int = 0


def account_key(email: str) -> str:
    """The counter key of a typed address: the stored spelling when it is an address (so
    ``Ann@Example.org`` and ``ann@example.org`` share one), hashed, so the counters' storage
    holds no addresses."""
    try:
        spelled = normalize_email(email)
    except InvalidInput:
        spelled = email.strip().lower()
    return hashlib.sha256(spelled.encode("utf-8", "surrogatepass")).hexdigest()


def client_key(remote_address: str | None) -> str:
    """The counter key of a client: its IPv4 address, or its IPv6 /64 network (one
    subscriber line holds a whole /64, so counting single IPv6 addresses counts nothing)."""
    try:
        address = ipaddress.ip_address(remote_address or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _counters(email: str, remote_address: str | None) -> list[tuple[RateLimitItem, str, str]]:
    config = current_app.config
    return [
        *(
            (item, "account", account_key(email))
            for item in parse_many(config["LOGIN_ACCOUNT_LIMIT"])
        ),
        *(
            (item, "client", client_key(remote_address))
            for item in parse_many(config["LOGIN_CLIENT_LIMIT"])
        ),
    ]


def _strategy() -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(limiter.storage)


def _give_back(
    strategy: FixedWindowRateLimiter, taken: list[tuple[RateLimitItem, str, str]]
) -> None:
    for item, scope, key in taken:
        strategy.storage.incr(item.key_for("login", scope, key), item.get_expiry(), amount=-1)


def _wait(strategy: FixedWindowRateLimiter, item: RateLimitItem, scope: str, key: str) -> int:
    """Whole seconds until a breached window ends: at least 1, and never more than the
    window itself (a storage that reports its reset time from its own, later clock, as
    Redis's TTL does, would otherwise round a minute's lock up to 61 s)."""
    reset = strategy.get_window_stats(item, "login", scope, key).reset_time
    return min(item.get_expiry(), max(1, math.ceil(reset - time.time())))


def attempt(email: str, password: str, remote_address: str | None) -> Attempt:
    """Check a login unless too many have failed lately; count it when it fails."""
    strategy = _strategy()
    counters = _counters(email, remote_address)
    breached = [c for c in counters if not strategy.hit(c[0], "login", c[1], c[2])]
    shown = email.strip()[:320]
    client = client_key(remote_address)
    if breached:
        _give_back(strategy, counters)
        retry_after = max(_wait(strategy, item, scope, key) for item, scope, key in breached)
        security.warning(
            "login refused for %r from %s: too many failed logins, locked for %d s",
            shown,
            client,
            retry_after,
        )
        return Attempt(None, retry_after)
    user = users.authenticate(email, password)
    if user is None:
        security.warning("login failed for %r from %s", shown, client)
        return Attempt(None)
    _give_back(strategy, counters)
    security.info("login of %s from %s", user.email, client)
    return Attempt(user)


def unlock(email: str) -> None:
    """Forget an account's failed logins (an operator lets its owner in before the lockout
    ends); the client addresses' counters stay."""
    strategy = _strategy()
    key = account_key(email)
    for item in parse_many(current_app.config["LOGIN_ACCOUNT_LIMIT"]):
        strategy.storage.clear(item.key_for("login", "account", key))
