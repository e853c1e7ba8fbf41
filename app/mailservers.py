"""The SMTP servers Tocsin sends through, as ``TOCSIN_SMTP_URL`` describes them.

Configuration only (no sockets): the web side checks names and settings with it, the worker
connects with it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from app.errors import ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpSettings:
    """One SMTP server: where, how, and how fast; parsed from ``TOCSIN_SMTP_URL``."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    name: str = "default"
    weight: int = 1
    max_per_connection: int = 1000
    # (limit, period in seconds) pairs: `rate=50` is (50, 1); `window=10000/3600` is (10000, 3600).
    limits: tuple[tuple[int, float], ...] = ()


def _number(value: str, what: str, url: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"TOCSIN_SMTP_URL: {what} must be a number in {url!r}") from None
    if number <= 0:
        raise ConfigError(f"TOCSIN_SMTP_URL: {what} must be positive in {url!r}")
    return number


def _weight(value: str, url: str) -> int:
    if not value.isdigit():
        raise ConfigError(f"TOCSIN_SMTP_URL: weight must be a whole number in {url!r}")
    return int(value)


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse ``smtp://host:port``, ``smtp+starttls://user:pass@host:587`` or ``smtps://…``.

    Query options: ``name``, ``weight``, ``timeout``, ``max_per_connection``, ``rate``
    (messages a second) and ``window`` (``N/seconds``, repeatable).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigError(
            f"TOCSIN_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, not {url!r}"
        )
    if not parts.hostname:
        raise ConfigError(f"TOCSIN_SMTP_URL has no host: {url!r}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError(f"TOCSIN_SMTP_URL has a bad port: {url!r}") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    limits = []
    if "rate" in query:
        limits.append((int(_number(query["rate"], "rate", url)), 1.0))
    for window in parse_qs(parts.query).get("window", []):
        count, _, seconds = window.partition("/")
        limits.append((int(_number(count, "window", url)), _number(seconds, "window", url)))
    unknown = set(query) - {"name", "weight", "timeout", "max_per_connection", "rate", "window"}
    if unknown:
        raise ConfigError(f"TOCSIN_SMTP_URL: unknown option {sorted(unknown)[0]!r} in {url!r}")
    return SmtpSettings(
        parts.scheme,
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        timeout=_number(query.get("timeout", "30"), "timeout", url),
        name=query.get("name", "default"),
        weight=int(_weight(query.get("weight", "1"), url)),
        max_per_connection=int(_number(query.get("max_per_connection", "1000"), "max", url)),
        limits=tuple(limits),
    )


def parse_smtp_servers(value: str) -> list[SmtpSettings]:
    """Parse one or more SMTP URLs separated by spaces or commas; names must be unique."""
    servers = [parse_smtp_url(url) for url in re.split(r"[\s,]+", value.strip()) if url]
    if not servers:
        raise ConfigError("TOCSIN_SMTP_URL names no SMTP server")
    names = [server.name for server in servers]
    if len(set(names)) != len(names):
        raise ConfigError("TOCSIN_SMTP_URL: give each server a different ?name=")
    return servers


def failover_order(servers: Sequence[SmtpSettings], named: str | None) -> list[SmtpSettings]:
    """Return the servers to try: the named one alone, else all by weight (0: only by name)."""
    if named:
        chosen = [server for server in servers if server.name == named]
        if not chosen:
            raise ConfigError(f"no SMTP server is named {named!r}")
        return chosen
    remaining, order = [server for server in servers if server.weight > 0], []
    while remaining:
        pick = random.choices(remaining, weights=[s.weight for s in remaining])[0]
        order.append(pick)
        remaining.remove(pick)
    return order
