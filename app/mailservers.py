"""The SMTP servers Tocsin sends through, as ``TOCSIN_SMTP_URL`` describes them.

Configuration only (no sockets): the web side checks names and settings with it, the worker
connects with it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
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
    helo: str | None = None  # the name said in EHLO; None: the one ``servers_for`` gives


_HOST_NAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_ADDRESS_LITERAL = re.compile(r"\[[0-9A-Fa-f:.]+\]|\[IPv6:[0-9A-Fa-f:.]+\]")


def helo_name(value: str, where: str) -> str:
    """Return a name fit for EHLO (a host name, in IDNA form, or an address literal such as
    ``[192.0.2.1]``), or raise ``ConfigError`` naming ``where`` it came from."""
    value = value.strip().rstrip(".")
    if _ADDRESS_LITERAL.fullmatch(value):
        return value
    try:
        name = value.encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = ""
    if len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise ConfigError(
            f"{where} must be a host name such as mail.example.org (said in EHLO), not {value!r}"
        )
    return name


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
    (messages a second), ``window`` (``N/seconds``, repeatable) and ``helo`` (the name said
    in EHLO to this server).
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
    options = {"name", "weight", "timeout", "max_per_connection", "rate", "window", "helo"}
    unknown = set(query) - options
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
        helo=helo_name(query["helo"], f"TOCSIN_SMTP_URL: helo in {url!r}")
        if "helo" in query
        else None,
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


def servers_for(config: Mapping[str, Any]) -> list[SmtpSettings]:
    """The servers of ``TOCSIN_SMTP_URL``, each saying in EHLO its own ``helo``, else
    ``TOCSIN_HELO_NAME``, else the domain of ``TOCSIN_FROM`` (not the machine's name, which
    may have no dot and becomes an address literal)."""
    from emails.mime import split_address

    servers = parse_smtp_servers(str(config.get("SMTP_URL", "")))
    if config.get("HELO_NAME"):
        default = helo_name(str(config["HELO_NAME"]), "TOCSIN_HELO_NAME")
    else:
        domain = split_address(str(config.get("MAIL_FROM", "")))[1].rpartition("@")[2]
        default = helo_name(domain, "the domain of TOCSIN_FROM (or set TOCSIN_HELO_NAME)")
    return [server if server.helo else replace(server, helo=default) for server in servers]


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
