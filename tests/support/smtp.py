"""A real SMTP server for tests: the project's Maildir catcher, also keeping messages in memory."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from app.catcher import MaildirHandler


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class RecordingHandler(MaildirHandler):
    """Store to the Maildir like the catcher, and remember each message for assertions."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self.received: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return await super().handle_DATA(server, session, envelope)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 at a chosen port."""

    def __init__(self, port: int, maildir: Path) -> None:
        self.port = port
        self.handler = RecordingHandler(maildir)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received since the last reset, parsed with the default policy."""
        with self.handler.lock:
            return [r.message for r in self.handler.received]

    @property
    def envelopes(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)
