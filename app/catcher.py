"""The development SMTP catcher: stores every message in a Maildir that the panel shows."""

from __future__ import annotations

import mailbox
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from app.errors import NotFound


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
    """Start the catcher in a background thread and return its controller."""
    controller = Controller(MaildirHandler(maildir), hostname=host, port=port)
    controller.start()
    return controller


def serve_forever(host: str, port: int, maildir: str | Path) -> None:
    """Run the catcher until interrupted."""
    controller = start_catcher(host, port, maildir)
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


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def list_caught(maildir: str | Path, limit: int = 200) -> list[Caught]:
    """Return the newest caught messages first."""
    folder = Path(maildir)
    if not folder.exists():
        return []
    paths = [
        p for sub in ("new", "cur") if (folder / sub).is_dir() for p in (folder / sub).iterdir()
    ]
    files = sorted(((path.stat().st_mtime, path) for path in paths), reverse=True)[:limit]
    caught = []
    for _mtime, path in files:
        message = _parse(path.read_bytes())
        key = path.name.split(":")[0]
        caught.append(
            Caught(
                key,
                str(message["To"] or ""),
                str(message["Subject"] or ""),
                str(message["Content-Language"] or ""),
                str(message["Date"] or ""),
            )
        )
    return caught


def read_caught(maildir: str | Path, key: str) -> EmailMessage:
    """Return one caught message, parsed."""
    box = mailbox.Maildir(str(maildir), create=False)
    try:
        return _parse(box.get_bytes(key))
    except KeyError:
        raise NotFound(f"no caught message {key!r}") from None
