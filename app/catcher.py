"""The development SMTP catcher: stores every message in a Maildir that the panel shows."""

from __future__ import annotations

import contextlib
import mailbox
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from app.errors import NotFound
from app.private_files import restrict_umask


class MaildirHandler:
    """aiosmtpd handler: one Maildir file per accepted message, envelope in the headers."""

    def __init__(self, maildir: str | Path) -> None:
        self.maildir = mailbox.Maildir(str(maildir), create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        for recipient in envelope.rcpt_tos:
            trace = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {recipient}\r\n"
            self.maildir.add(trace.encode() + envelope.original_content)
        return "250 2.0.0 Message accepted"


def start_catcher(host: str, port: int, maildir: str | Path) -> Controller:
    """Start the catcher in a background thread and return its controller. Its Maildir holds
    addresses: folders are created 0700 and messages 0600."""
    restrict_umask()
    controller = Controller(MaildirHandler(maildir), hostname=host, port=port)
    controller.start()
    return controller


def serve_forever(host: str, port: int, maildir: str | Path) -> None:
    """Run the catcher until interrupted."""
    run_until_interrupted(start_catcher(host, port, maildir))


def run_until_interrupted(controller: Controller) -> None:
    """Keep a started SMTP server running until Ctrl-C, then stop it."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@dataclass(frozen=True)
class Caught:
    """A summary of one caught message for the panel's list."""

    key: str
    to: str
    subject: str
    language: str
    date: str
    recipient: str = ""  # the envelope's (Delivered-To), which a Bcc'd copy has alone


@dataclass(frozen=True)
class CaughtPage:
    """One page of the catcher's list: its messages, newest first, and where it stands."""

    messages: list[Caught]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Shown:
    """One caught message as the panel shows it: every value is printable text.

    Whatever the file holds (broken headers, unknown charsets, bad base64, no body, binary
    junk, not a message at all), reading it gives one of these; ``problems`` says what could
    not be read as it claimed to be.
    """

    key: str
    subject: str
    headers: list[tuple[str, str]]
    html: str
    text: str
    problems: list[str] = field(default_factory=list)


def readable(value: object) -> str:
    """Return ``value`` as text that can always be encoded and shown: bytes the parser kept
    as surrogates become U+FFFD, NUL and other C0 controls except TAB, CR and LF too."""
    text = str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.translate(_CONTROLS)


_CONTROLS = {code: "\ufffd" for code in (*range(0, 9), 11, 12, *range(14, 32), 127)}


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value, else its raw text when it cannot be decoded, else ''."""
    try:
        value = message[name]
    except Exception:  # noqa: BLE001  (any header a sender wrote must still be shown)
        raw = [v for k, v in message.raw_items() if k.lower() == name.lower()]
        return readable(" ".join(raw[0].split())) if raw else ""
    return "" if value is None else readable(value)


def _headers(message: EmailMessage) -> list[tuple[str, str]]:
    shown = []
    for name, raw in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw))
        except Exception:  # noqa: BLE001
            value = " ".join(str(raw).split())
        shown.append((readable(name), readable(value)))
    return shown


def _files(folder: Path) -> list[Path]:
    """The message files of a Maildir (``new`` and ``cur``), skipping anything else."""
    found: list[Path] = []
    for sub in ("new", "cur"):
        with contextlib.suppress(OSError):
            found.extend(p for p in (folder / sub).iterdir() if p.is_file() and _key(p))
    return found


def _key(path: Path) -> str:
    return path.name.split(":")[0]


PER_PAGE = 50
HEAD_LIMIT = 1 << 20  # a header block longer than this is cut: the list needs a summary


def find_caught(
    maildir: str | Path,
    page: int = 1,
    recipient: str = "",
    subject: str = "",
    per_page: int = PER_PAGE,
) -> CaughtPage:
    """Return one page of caught messages, newest first (by file time, then key). Without a
    search only that page's files are read, and only their headers; a search reads every
    file's headers and keeps those whose recipient (To or the envelope's) and subject hold
    the words given, in any case. A page past the last shows the last."""
    paths = _newest_first(Path(maildir))
    wanted = (recipient.strip().casefold(), subject.strip().casefold())
    found = [c for c in map(_summary, paths) if _matches(c, *wanted)] if any(wanted) else None
    total = len(paths) if found is None else len(found)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    first, last = (page - 1) * per_page, page * per_page
    if found is None:
        return CaughtPage([_summary(p) for p in paths[first:last]], page, pages, total)
    return CaughtPage(found[first:last], page, pages, total)


def list_caught(maildir: str | Path, limit: int = 200) -> list[Caught]:
    """Return the newest caught messages first; a file that is not a readable message is
    listed with what could be read of it."""
    return find_caught(maildir, per_page=limit).messages


def _newest_first(folder: Path) -> list[Path]:
    """The Maildir's message files by modification time, newest first, from ``stat`` alone."""
    dated = []
    for path in _files(folder):
        with contextlib.suppress(OSError):  # removed since it was listed
            dated.append((path.stat().st_mtime_ns, _key(path), path.name, path))
    dated.sort(key=lambda entry: entry[:3], reverse=True)
    return [entry[3] for entry in dated]


def _summary(path: Path) -> Caught:
    """What the list shows of one file, read from its header block only."""
    key = readable(_key(path))
    try:
        message = BytesHeaderParser(policy=policy.default).parsebytes(_read_head(path))
    except Exception:  # noqa: BLE001  (whatever the file holds, it is still listed)
        return Caught(key, "", "(unreadable)", "", "")
    values = [
        _header(message, name)
        for name in ("To", "Subject", "Content-Language", "Date", "Delivered-To")
    ]
    return Caught(key, *values)


def _matches(caught: Caught, recipient: str, subject: str) -> bool:
    """Whether a summary holds the (case-folded) recipient and subject searched for."""
    to = f"{caught.to}\n{caught.recipient}".casefold()
    return recipient in to and subject in caught.subject.casefold()


def _read_head(path: Path) -> bytes:
    """The header block of a message file, read until the blank line (the list needs no
    body), at most ``HEAD_LIMIT`` bytes."""
    data = b""
    with path.open("rb") as file:
        while len(data) < HEAD_LIMIT:
            chunk = file.read(1 << 16)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data or b"\n\n" in data:
                break
    return _head(data[:HEAD_LIMIT])


def _head(raw: bytes) -> bytes:
    """The header block of a message: up to and with the first blank line."""
    for end in (b"\r\n\r\n", b"\n\n"):
        if (at := raw.find(end)) != -1:
            return raw[: at + len(end)]
    return raw


def read_caught(maildir: str | Path, key: str) -> Shown:
    """Return one caught message, readable whatever its file holds; ``NotFound`` if no file
    has that key."""
    path = next((p for p in _files(Path(maildir)) if _key(p) == key), None)
    try:
        raw = path.read_bytes() if path is not None else None
    except OSError:
        raw = None
    if raw is None:
        raise NotFound(f"no caught message {key!r}")
    problems: list[str] = []
    try:
        message = _parse(raw)
    except Exception as exc:  # noqa: BLE001
        text = readable(raw.decode("utf-8", "replace"))
        return Shown(key, "(unreadable)", [], "", text, [f"not a message: {exc}"])
    problems.extend(readable(defect.__class__.__name__) for defect in message.defects)
    html = _part(message, "html", problems)
    text = _part(message, "plain", problems)
    if not html and not text and not message.is_multipart():
        text = _payload_text(message)
    return Shown(key, _header(message, "Subject"), _headers(message), html, text, problems)


def _part(message: EmailMessage, subtype: str, problems: list[str]) -> str:
    try:
        part = message.get_body((subtype,))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{subtype} part: {readable(exc)}")
        return ""
    if part is None:
        return ""
    try:
        return readable(part.get_content())
    except Exception as exc:  # noqa: BLE001  (unknown charset, bad encoding, ...)
        problems.append(f"{subtype} part shown as UTF-8: {readable(exc)}")
        return _payload_text(part)  # type: ignore[arg-type]


def _payload_text(part: EmailMessage) -> str:
    """A part's bytes (transfer encoding undone when possible) read as UTF-8."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return readable(payload) if isinstance(payload, str) else ""
    return readable(data.decode("utf-8", "replace"))
