"""Polling a POP3 mailbox: every message stored is marked for deletion, and the deletions
take effect at QUIT, after the last one was stored and committed. A poll that stops before
QUIT deletes nothing; the next poll finds what it had stored a duplicate."""

from __future__ import annotations

import logging
import poplib

from app.inbound import intake
from app.inbound.mailbox_settings import MailboxError, MailboxSettings, PollResult, Security, Tally

log = logging.getLogger(__name__)

TIMEOUT = 60.0
# poplib refuses lines over 2048 bytes; mail that came back may carry longer ones.
LINE_LIMIT = 1 << 20


class _POP3(poplib.POP3):
    def _getline(self) -> tuple[bytes, int]:
        line = self.file.readline(LINE_LIMIT + 1)
        if len(line) > LINE_LIMIT:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        if line.endswith(b"\r\n"):
            return line[:-2], len(line)
        return line[:-1] if line.endswith(b"\n") else line, len(line)


class _POP3_SSL(_POP3, poplib.POP3_SSL):
    pass


def _connect(settings: MailboxSettings) -> poplib.POP3:
    if settings.security is Security.TLS:
        return _POP3_SSL(
            settings.host, settings.port, timeout=TIMEOUT, context=settings.tls_context()
        )
    pop = _POP3(settings.host, settings.port, timeout=TIMEOUT)
    if settings.security is Security.STARTTLS:
        try:
            pop.stls(settings.tls_context())
        except poplib.error_proto as exc:
            pop.close()
            raise MailboxError(f"{settings.where}: STARTTLS failed: {_said(exc)}") from None
        except BaseException:
            pop.close()
            raise
    return pop


def _said(exc: poplib.error_proto) -> str:
    reason = exc.args[0] if exc.args else ""
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _log_in(pop: poplib.POP3, settings: MailboxSettings) -> None:
    try:
        pop.user(settings.user)
        pop.pass_(settings.password)
    except poplib.error_proto as exc:
        raise MailboxError(
            f"{settings.where}: the server refused the login of {settings.user}: {_said(exc)}"
        ) from None


def _listing(pop: poplib.POP3, limit: int) -> list[tuple[int, int]]:
    """(number, size) of the messages to take up."""
    found = []
    for line in pop.list()[1][:limit]:
        number, size = line.split()[:2]
        found.append((int(number), int(size)))
    return found


def _take_up(pop: poplib.POP3, settings: MailboxSettings, limit: int) -> PollResult:
    tally, most = Tally(), intake.max_bytes()
    for number, size in _listing(pop, limit):
        if size > most:  # refused unread
            tally.refused += 1
        elif tally.take(b"\r\n".join(pop.retr(number)[1]) + b"\r\n", "pop3"):
            pop.dele(number)
            continue
        log.warning(
            "%s: message %s (%s bytes) is over the limit of %s bytes (TOCSIN_INBOUND_MAX_BYTES): "
            "not stored, left on the server",
            settings.where,
            number,
            size,
            most,
        )
    return tally.result()


def poll(settings: MailboxSettings, limit: int) -> PollResult:
    """Store up to ``limit`` messages, then delete those stored (at QUIT)."""
    pop = _connect(settings)
    try:
        _log_in(pop, settings)
        result = _take_up(pop, settings, limit)
    except BaseException:
        pop.close()  # no QUIT: the server deletes nothing
        raise
    pop.quit()
    return result
