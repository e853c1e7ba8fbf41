"""SMTP client side: URL settings, one persistent connection per worker process, and the
classification of every reply into a ledger outcome.

MAIL, RCPT and DATA are issued separately so the failing phase is known: a failure before
the final dot is safe to retry; a lost reply after it is ``unknown`` (it may have arrived).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from app.errors import ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
MAX_MESSAGES_PER_CONNECTION = 1000
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect; parsed from ``TOCSIN_SMTP_URL``."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse ``smtp://host:port``, ``smtp+starttls://user:pass@host:587`` or ``smtps://…``."""
    parts = urlsplit(url)
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
    return SmtpSettings(
        parts.scheme,
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 4xx or a connection problem before the final dot
    PERMANENT = "permanent"  # 5xx for this recipient
    POLICY = "policy"  # 5.7.x: sender/auth/policy; the campaign should stop
    UNKNOWN = "unknown"  # the reply to the final dot was lost


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reply: str


def classify(code: int, message: bytes | str) -> Result:
    """Map an SMTP reply to an outcome (RFC 5321 codes, RFC 3463 enhanced codes)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    reply = f"{code} {text}".strip()
    if 200 <= code < 300:
        return Result(Outcome.SENT, reply)
    if 400 <= code < 500:
        return Result(Outcome.RETRY, reply)
    if text.startswith("5.7."):
        return Result(Outcome.POLICY, reply)
    return Result(Outcome.PERMANENT, reply)


class Connection:
    """One persistent SMTP session, reopened when it breaks or has carried enough mail."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        smtp.ehlo()
        if s.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if s.username:
            smtp.login(s.username, s.password or "")
        self._sent_on_connection = 0
        return smtp

    def close(self) -> None:
        """Say QUIT if possible and forget the session."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
        self._smtp = None

    def send(self, envelope_from: str, recipient: str, data: bytes) -> Result:
        """Send one message and say what became of it; never raises for SMTP trouble."""
        try:
            if self._smtp is None or self._sent_on_connection >= MAX_MESSAGES_PER_CONNECTION:
                self.close()
                self._smtp = self._open()
            smtp = self._smtp
            for command in (lambda: smtp.mail(envelope_from), lambda: smtp.rcpt(recipient)):
                code, message = command()
                if code not in (250, 251):
                    self._reset()
                    return classify(code, message)
            code, message = smtp.docmd("DATA")
            if code != 354:
                self._reset()
                return classify(code, message)
            payload = _LEADING_DOT.sub(b"..", data)
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            smtp.send(payload + b".\r\n")
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.RETRY, f"connection problem before the end of data: {exc}")
        try:
            code, message = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.UNKNOWN, f"no reply after the end of data: {exc}")
        self._sent_on_connection += 1
        return classify(code, message)

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None


_connections: dict[SmtpSettings, Connection] = {}


def connection_for(url: str) -> Connection:
    """Return this process's persistent connection to the server named by ``url``."""
    settings = parse_smtp_url(url)
    if settings not in _connections:
        _connections[settings] = Connection(settings)
    return _connections[settings]
