"""Polling an IMAP folder, by UID throughout. A message leaves the folder (MOVE, or COPY +
``\\Deleted`` + EXPUNGE on a server without MOVE) only after it was stored and committed, so
a poll that stops in between leaves it there, and the next poll finds it a duplicate."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
from collections.abc import Sequence

from app.inbound import intake
from app.inbound.mailbox_settings import (
    MailboxError,
    MailboxSettings,
    PollResult,
    Security,
    Tally,
)

log = logging.getLogger(__name__)

TIMEOUT = 60.0
# Set on mail too large to store, when no ``refused`` folder is given: it stays in the folder,
# flagged, and later polls pass it by (remove the keyword to have it fetched again).
REFUSED_KEYWORD = "TocsinRefused"
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


def quoted(name: str) -> str:
    """A folder name as an IMAP quoted string (settings refuse quotes and backslashes)."""
    return f'"{name}"'


def _said(data: Sequence[object]) -> str:
    last = data[-1] if data else b""
    return last.decode("utf-8", "replace") if isinstance(last, bytes) else str(last)


def _ok(response: tuple[str, Sequence[object]], doing: str) -> Sequence[object]:
    kind, data = response
    if kind != "OK":
        raise imaplib.IMAP4.error(f"{doing}: {_said(data)}")
    return data


def _connect(settings: MailboxSettings) -> imaplib.IMAP4:
    if settings.security is Security.TLS:
        return imaplib.IMAP4_SSL(
            settings.host, settings.port, ssl_context=settings.tls_context(), timeout=TIMEOUT
        )
    imap = imaplib.IMAP4(settings.host, settings.port, timeout=TIMEOUT)
    if settings.security is Security.STARTTLS:
        try:
            if "STARTTLS" not in imap.capabilities:
                raise MailboxError(f"{settings.where}: the server offers no STARTTLS")
            imap.starttls(settings.tls_context())
        except BaseException:
            with contextlib.suppress(OSError):  # TLS may have failed half way
                imap.shutdown()
            raise
    return imap


def _log_in(imap: imaplib.IMAP4, settings: MailboxSettings) -> set[str]:
    """Log in (SASL PLAIN where offered: any characters in the password); return the
    capabilities the server has for us now."""
    try:
        if "AUTH=PLAIN" in imap.capabilities:
            secret = f"\0{settings.user}\0{settings.password}".encode()
            imap.authenticate("PLAIN", lambda _: secret)
        else:
            imap.login(settings.user, settings.password)
    except (imaplib.IMAP4.error, UnicodeEncodeError) as exc:
        reason = str(exc) if isinstance(exc, imaplib.IMAP4.error) else "characters it cannot take"
        raise MailboxError(
            f"{settings.where}: the server refused the login of {settings.user}: {reason}"
        ) from None
    data = _ok(imap.capability(), "CAPABILITY")
    return {
        word.upper()
        for line in data
        if isinstance(line, bytes)
        for word in line.decode("ascii", "replace").split()
    }


def _ensure_folder(imap: imaplib.IMAP4, folder: str) -> None:
    """Create a folder we move mail to, unless it exists."""

    def exists() -> bool:
        return any(item for item in _ok(imap.list('""', quoted(folder)), "LIST"))

    if exists():
        return
    kind, data = imap.create(quoted(folder))
    if kind != "OK" and not exists():  # another poll may have just created it
        raise imaplib.IMAP4.error(
            f"the folder {folder} is missing and could not be created: {_said(data)}"
        )
    imap.subscribe(quoted(folder))  # so that mail clients show it


def _sizes(imap: imaplib.IMAP4, limit: int) -> list[tuple[int, int]]:
    """(uid, size) of the messages to take up, oldest first."""
    found = _ok(imap.uid("SEARCH", "UNDELETED UNKEYWORD " + REFUSED_KEYWORD), "SEARCH")
    uids = sorted(int(u) for line in found if isinstance(line, bytes) for u in line.split())
    if not uids:
        return []
    wanted = ",".join(str(uid) for uid in uids[:limit])
    sizes: dict[int, int] = {}
    for item in _ok(imap.uid("FETCH", wanted, "(RFC822.SIZE)"), "FETCH"):
        text = item[0] if isinstance(item, tuple) else item
        if isinstance(text, bytes) and (uid := _UID.search(text)) and (size := _SIZE.search(text)):
            sizes[int(uid.group(1))] = int(size.group(1))
    return sorted(sizes.items())


def _fetch(imap: imaplib.IMAP4, uid: int) -> bytes | None:
    for item in _ok(imap.uid("FETCH", str(uid), "(BODY.PEEK[])"), "FETCH"):
        if isinstance(item, tuple) and b"BODY[]" in item[0]:
            return bytes(item[1])
    return None  # expunged meanwhile, by another client


def _remove(imap: imaplib.IMAP4, uid: int, capabilities: set[str]) -> None:
    _ok(imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
    if "UIDPLUS" in capabilities:
        _ok(imap.uid("EXPUNGE", str(uid)), "UID EXPUNGE")
    else:
        _ok(imap.expunge(), "EXPUNGE")


def _leave(imap: imaplib.IMAP4, uid: int, folder: str, capabilities: set[str]) -> None:
    """Move a message to a folder, or delete it when no folder is given."""
    if folder and "MOVE" in capabilities:
        _ok(imap.uid("MOVE", str(uid), quoted(folder)), "MOVE")
        return
    if folder:
        _ok(imap.uid("COPY", str(uid), quoted(folder)), "COPY")
    _remove(imap, uid, capabilities)


def _refuse(
    imap: imaplib.IMAP4, uid: int, size: int, settings: MailboxSettings, capabilities: set[str]
) -> None:
    what = f"{settings.where}: message UID {uid} ({size} bytes) is over the limit of "
    what += f"{intake.max_bytes()} bytes (TOCSIN_INBOUND_MAX_BYTES): not stored"
    if settings.refused:
        _leave(imap, uid, settings.refused, capabilities)
        log.warning("%s, moved to %s", what, settings.refused)
        return
    flags = f"(\\Flagged {REFUSED_KEYWORD})"
    _ok(imap.uid("STORE", str(uid), "+FLAGS.SILENT", flags), "STORE")
    log.warning("%s, left in the folder and flagged %s", what, REFUSED_KEYWORD)


def _take_up(
    imap: imaplib.IMAP4, settings: MailboxSettings, capabilities: set[str], limit: int
) -> PollResult:
    tally, most = Tally(), intake.max_bytes()
    for uid, size in _sizes(imap, limit):
        if size > most:  # refused unread
            tally.refused += 1
            _refuse(imap, uid, size, settings, capabilities)
            continue
        raw = _fetch(imap, uid)
        if raw is None:
            continue
        if tally.take(raw, "imap"):
            _leave(imap, uid, settings.processed, capabilities)
        else:
            _refuse(imap, uid, len(raw), settings, capabilities)
    return tally.result()


def poll(settings: MailboxSettings, limit: int) -> PollResult:
    """Store up to ``limit`` messages of the folder, then move or delete each one stored."""
    imap = _connect(settings)
    try:
        capabilities = _log_in(imap, settings)
        for folder in (settings.processed, settings.refused):
            if folder:
                _ensure_folder(imap, folder)
        _ok(imap.select(quoted(settings.folder)), f"SELECT {settings.folder}")
        return _take_up(imap, settings, capabilities, limit)
    finally:
        # A connection that broke already cannot log out; whatever was stored stays stored.
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()
