"""A real SMTP server for tests: the project's Maildir catcher, also keeping messages in memory."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from app.catcher import MaildirHandler

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now, and that this
    process has not handed out before: the system may offer a port again as soon as it is
    closed, and a test that asks for several before starting anything (a Dovecot with four
    listeners) must get four different ones."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def listening(port: int) -> bool:
    """Whether something accepts connections on this loopback port now."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


class RecordingHandler(MaildirHandler):
    """Store to the Maildir like the catcher, remember each message, and misbehave on request.

    ``behaviour`` maps a recipient to a rule: ``rcpt:REPLY`` (answer RCPT so),
    ``rcpt-once:REPLY`` (only the first time), ``data:REPLY`` (refuse after the final dot),
    ``drop-after-dot`` (take the message, then hang up without a reply) or ``stall:SECONDS``
    (take the message, reply that much later). ``delay`` slows every message down. It
    offers PIPELINING, as production relays do, so the client's pipelined paths run.
    """

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.behaviour: dict[str, str] = {}
        self.delay = 0.0
        self._used_once: set[str] = set()

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        rule, _, reply = self.behaviour.get(address, "").partition(":")
        if rule == "rcpt" or (rule == "rcpt-once" and address not in self._used_once):
            self._used_once.add(address)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        rule, _, argument = self.behaviour.get(envelope.rcpt_tos[0], "").partition(":")
        if rule == "data":
            return argument
        if self.delay:
            await asyncio.sleep(self.delay)
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), message, envelope.original_content
                )
            )
        stored = await super().handle_DATA(server, session, envelope)
        if rule == "drop-after-dot":
            server.transport.abort()
        if rule == "stall":
            await asyncio.sleep(float(argument))
        return stored


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
            self.handler.behaviour.clear()
            self.handler._used_once.clear()
            self.handler.delay = 0.0

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received since the last reset, parsed with the default policy."""
        with self.handler.lock:
            return [r.message for r in self.handler.received]

    @property
    def raw_messages(self) -> list[bytes]:
        """The bytes of each message exactly as received."""
        with self.handler.lock:
            return [r.raw for r in self.handler.received]

    @property
    def envelopes(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)


def recipients(messages: list[EmailMessage]) -> list[str]:
    """Return the To address of each message, in order."""
    return [m["To"].addresses[0].addr_spec for m in messages]


def wait_for_mail(smtp, count: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(smtp.messages) < count:
        time.sleep(0.1)
    return smtp.messages
