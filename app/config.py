"""Configuration read from ``TOCSIN_*`` environment variables, with embedded defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.errors import ConfigError

DEFAULT_SECRET_KEY = "tocsin-development-secret-change-me"

# Environment variable -> Flask config key. Every setting an operator may need is here.
_ENV_KEYS = {
    "TOCSIN_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "TOCSIN_BROKER_URL": "BROKER_URL",
    "TOCSIN_SMTP_URL": "SMTP_URL",
    "TOCSIN_SECRET_KEY": "SECRET_KEY",
    "TOCSIN_SECRET_KEY_FALLBACKS": "SECRET_KEY_FALLBACKS",
    "TOCSIN_HASH_KEY": "HASH_KEY",
    "TOCSIN_BASE_URL": "BASE_URL",
    "TOCSIN_FROM": "MAIL_FROM",
    "TOCSIN_BOUNCE_DOMAIN": "BOUNCE_DOMAIN",
    "TOCSIN_DKIM_KEY": "DKIM_KEY",
    "TOCSIN_DKIM_SELECTOR": "DKIM_SELECTOR",
    "TOCSIN_DKIM_DOMAIN": "DKIM_DOMAIN",
    "TOCSIN_HELO_NAME": "HELO_NAME",
    "TOCSIN_CATCHER_MAILDIR": "CATCHER_MAILDIR",
    "TOCSIN_ENV": "TOCSIN_ENV",
    "TOCSIN_DISPATCH_INTERVAL": "DISPATCH_INTERVAL",
    "TOCSIN_BATCH_SIZE": "BATCH_SIZE",
    "TOCSIN_LEASE_SECONDS": "LEASE_SECONDS",
    "TOCSIN_REDISPATCH_SECONDS": "REDISPATCH_SECONDS",
    "TOCSIN_RETRY_WINDOW_SECONDS": "RETRY_WINDOW_SECONDS",
    "TOCSIN_RETRY_BASE_SECONDS": "RETRY_BASE_SECONDS",
    "TOCSIN_RATELIMIT_STORAGE_URL": "RATELIMIT_STORAGE_URI",
    "TOCSIN_SUBSCRIBE_IP_LIMIT": "SUBSCRIBE_IP_LIMIT",
    "TOCSIN_SUBSCRIBE_ADDRESS_LIMIT": "SUBSCRIBE_ADDRESS_LIMIT",
    "TOCSIN_PROXIES": "PROXIES",
    "TOCSIN_IMPORT_KEEP_DAYS": "IMPORT_KEEP_DAYS",
    "TOCSIN_LOGIN_ACCOUNT_LIMIT": "LOGIN_ACCOUNT_LIMIT",
    "TOCSIN_LOGIN_CLIENT_LIMIT": "LOGIN_CLIENT_LIMIT",
    "TOCSIN_SESSION_IDLE_HOURS": "SESSION_IDLE_HOURS",
    "TOCSIN_SESSION_MAX_DAYS": "SESSION_MAX_DAYS",
    "TOCSIN_MAX_REQUEST_BYTES": "MAX_CONTENT_LENGTH",
    "TOCSIN_IMPORT_MAX_BYTES": "IMPORT_MAX_BYTES",
    "TOCSIN_BOUNCE_THRESHOLD": "BOUNCE_THRESHOLD",
    "TOCSIN_BOUNCE_HALF_LIFE_DAYS": "BOUNCE_HALF_LIFE_DAYS",
    "TOCSIN_INBOUND_MAX_BYTES": "INBOUND_MAX_BYTES",
    "TOCSIN_BOUNCE_MAILBOX": "BOUNCE_MAILBOX",
    "TOCSIN_BOUNCE_MAILBOX_INTERVAL": "BOUNCE_MAILBOX_INTERVAL",
    # Provider webhooks (docs/inbound-webhooks.md): each is off until its key is set.
    "TOCSIN_SES_SNS_TOPIC_ARNS": "SES_SNS_TOPIC_ARNS",
    "TOCSIN_SES_SNS_CERT_HOSTS": "SES_SNS_CERT_HOSTS",
    "TOCSIN_SES_SNS_CA_FILE": "SES_SNS_CA_FILE",
    "TOCSIN_POSTMARK_WEBHOOK_USER": "POSTMARK_WEBHOOK_USER",
    "TOCSIN_POSTMARK_WEBHOOK_PASSWORD": "POSTMARK_WEBHOOK_PASSWORD",
    "TOCSIN_MAILGUN_WEBHOOK_KEY": "MAILGUN_WEBHOOK_KEY",
    "TOCSIN_SENDGRID_WEBHOOK_PUBLIC_KEY": "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "TOCSIN_GENERIC_WEBHOOK_SECRET": "GENERIC_WEBHOOK_SECRET",
}

_NUMBERS = {
    "BOUNCE_THRESHOLD": float,
    "BOUNCE_HALF_LIFE_DAYS": float,
    "INBOUND_MAX_BYTES": int,
    "BOUNCE_MAILBOX_INTERVAL": float,
    "DISPATCH_INTERVAL": float,
    "BATCH_SIZE": int,
    "LEASE_SECONDS": int,
    "REDISPATCH_SECONDS": int,
    "RETRY_WINDOW_SECONDS": int,
    "RETRY_BASE_SECONDS": float,
    "PROXIES": int,
    "IMPORT_KEEP_DAYS": float,
    "SESSION_IDLE_HOURS": float,
    "SESSION_MAX_DAYS": float,
    "MAX_CONTENT_LENGTH": int,
    "IMPORT_MAX_BYTES": int,
}


# Settings that hold several values, separated by spaces or commas.
_LISTS = {"SECRET_KEY_FALLBACKS", "SES_SNS_TOPIC_ARNS"}


def defaults(instance_path: str) -> dict[str, object]:
    """Return the embedded defaults: everything lives in the instance folder."""
    instance = Path(instance_path)
    return {
        "TOCSIN_ENV": "development",
        "SECRET_KEY": DEFAULT_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'tocsin.db'}",
        "BROKER_URL": f"sqla+sqlite:///{instance / 'broker.db'}",
        "SMTP_URL": "smtp://127.0.0.1:8025",
        "BASE_URL": "http://127.0.0.1:5000",
        "MAIL_FROM": "Tocsin <tocsin@localhost>",
        "CATCHER_MAILDIR": str(instance / "maildir"),
        "DISPATCH_INTERVAL": 2.0,
        "BATCH_SIZE": 200,
        "LEASE_SECONDS": 600,
        "REDISPATCH_SECONDS": 900,
        "RETRY_WINDOW_SECONDS": 3 * 24 * 3600,
        "RETRY_BASE_SECONDS": 60.0,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Public sign-up forms: attempts per client address and per submitted address.
        "SUBSCRIBE_IP_LIMIT": "20 per hour",
        "SUBSCRIBE_ADDRESS_LIMIT": "5 per hour",
        # A person needs a moment to type an address; a form sent faster is a bot's.
        "SUBSCRIBE_MIN_SECONDS": 2.0,
        # Reverse proxies in front of the web process whose X-Forwarded-For is trusted.
        "PROXIES": 0,
        # Finished imports (their reports hold addresses) are forgotten after this many days.
        "IMPORT_KEEP_DAYS": 30.0,
        "WTF_CSRF_TIME_LIMIT": None,
        # Failed logins allowed per typed account and per client address, tier by tier:
        # each tier breached locks the login until its window ends (a minute, an hour, a day).
        "LOGIN_ACCOUNT_LIMIT": "5 per minute; 20 per hour; 50 per day",
        "LOGIN_CLIENT_LIMIT": "10 per minute; 50 per hour; 200 per day",
        # A panel session ends after this long without a request, and this long after login.
        "SESSION_IDLE_HOURS": 12.0,
        "SESSION_MAX_DAYS": 14.0,
        # Request bodies: 1 MB, except the uploads that need more (see ``UPLOAD_LIMITS``).
        "MAX_CONTENT_LENGTH": 1 << 20,
        "MAX_FORM_MEMORY_SIZE": 1 << 20,
        # A CSV import (the import itself refuses files over 1 GB) and a campaign file.
        "IMPORT_MAX_BYTES": (1 << 30) + (1 << 20),
        "CAMPAIGN_FILE_MAX_BYTES": 4 << 20,
        # The return path: soft bounces add 1 a day at most to a score that halves every
        # BOUNCE_HALF_LIFE_DAYS and suppresses at BOUNCE_THRESHOLD; mail that comes back is
        # refused over INBOUND_MAX_BYTES.
        "BOUNCE_THRESHOLD": 3.0,
        "BOUNCE_HALF_LIFE_DAYS": 30.0,
        "INBOUND_MAX_BYTES": 10 << 20,
        # A hosted mailbox bounces land in (``app.inbound.mailboxes``), polled this often.
        "BOUNCE_MAILBOX_INTERVAL": 60.0,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
    }


def from_environment(environ: os._Environ[str] | dict[str, str]) -> dict[str, object]:
    """Read the ``TOCSIN_*`` variables that are set, converting numbers; raise on bad ones."""
    settings: dict[str, object] = {}
    for env_name, key in _ENV_KEYS.items():
        raw = environ.get(env_name)
        if raw is None or raw == "":
            continue
        if key in _LISTS:
            settings[key] = [value for value in re.split(r"[\s,]+", raw) if value]
            continue
        convert = _NUMBERS.get(key)
        if convert is None:
            settings[key] = raw
            continue
        try:
            settings[key] = convert(raw)
        except ValueError:
            raise ConfigError(f"{env_name} must be a number, not {raw!r}") from None
    return settings


def rate_limit_storage(config: dict[str, object]) -> str:
    """Where rate-limit counters live: as set, else Redis when the broker is Redis (shared by
    every web process), else this process's memory (the embedded single web process)."""
    chosen = config.get("RATELIMIT_STORAGE_URI")
    if chosen:
        return str(chosen)
    broker = str(config.get("BROKER_URL", ""))
    return broker if broker.startswith(("redis://", "rediss://")) else "memory://"


def check(config: dict[str, object]) -> None:
    """Refuse settings that must never reach production."""
    if config.get("TOCSIN_ENV") == "production" and config.get("SECRET_KEY") in (
        DEFAULT_SECRET_KEY,
        "",
        None,
    ):
        raise ConfigError(
            "TOCSIN_SECRET_KEY must be set to a long random value in production "
            "(TOCSIN_ENV=production)"
        )
    if config.get("TOCSIN_ENV") == "production" and not config.get("HASH_KEY"):
        raise ConfigError(
            "TOCSIN_HASH_KEY must be set in production (TOCSIN_ENV=production): the key of "
            "the suppression list's hashes, never rotated. On an installation that ran "
            "without it, set it to the current TOCSIN_SECRET_KEY"
        )
    from app.mailservers import parse_smtp_servers, servers_for

    parse_smtp_servers(str(config.get("SMTP_URL", "")))  # a bad URL stops the start, loudly
    if str(config.get("DKIM_KEY") or "").strip():
        from emails.dkim import pair_keys

        try:  # a count mismatch stops the start; the keys themselves load on first use
            pair_keys(str(config.get("DKIM_SELECTOR") or ""), str(config["DKIM_KEY"]))
        except ValueError as exc:
            raise ConfigError(f"TOCSIN_DKIM_KEY: {exc}") from None
    base_url = str(config.get("BASE_URL", ""))
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"TOCSIN_BASE_URL must start with http:// or https://, not {base_url!r}")
    check_mail_from(str(config.get("MAIL_FROM", "")))
    servers_for(config)  # and so does a name unfit for EHLO


def check_mail_from(value: str) -> None:
    """Refuse a TOCSIN_FROM that is not one sender, or whose name holds control characters
    (a line break or NUL would otherwise be rewritten into a different sender)."""
    from emails.mime import sender_control_characters, split_address

    name, address = split_address(value)
    if bad := sender_control_characters(value):
        raise ConfigError(
            "TOCSIN_FROM may not hold line breaks, NUL or other control characters "
            f"(found {', '.join(bad)}): {value!r}"
        )
    if "@" not in address:
        raise ConfigError(f"TOCSIN_FROM must be a sender such as 'Name <a@b.org>', not {value!r}")
